"""The raster pipeline: indices as published, validation, block-aligned windows, outputs on the input grid, nodata,
area clipping, both damage methods (the model seam faked by a 1x1-convolution ONNX model)."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from shapely.geometry import Polygon, box

from api.errors import status_of
from inference import drone, indices
from inference.drone import DamageModel, analyze_orthomosaic, iter_windows
from inference.errors import BadInput
from inference.geo import reproject
from inference.results import DroneSummary
from inference.sensors import RasterInfo, validate_raster
from tests.data.make_rasters import BALI, bali_crop, broken, deep_rgba, multispectral, rewritten, synthetic_rgba

REPO_MODELS = Path(__file__).resolve().parents[2] / "models"


def test_indices_match_their_formulas() -> None:
    r, g, b = np.float32([0.2]), np.float32([0.5]), np.float32([0.1])
    assert indices.vari(r, g, b)[0] == pytest.approx(0.3 / 0.6)
    assert indices.exg(r, g, b)[0] == pytest.approx(2 * 0.5 / 0.8 - 0.2 / 0.8 - 0.1 / 0.8)
    assert indices.gli(r, g, b)[0] == pytest.approx(0.7 / 1.3)
    assert indices.ndvi(np.float32([0.5]), np.float32([0.1]))[0] == pytest.approx(0.4 / 0.6)
    assert indices.ndre(np.float32([0.5]), np.float32([0.3]))[0] == pytest.approx(0.2 / 0.8)
    assert np.isnan(indices.ndvi(np.float32([0.0]), np.float32([0.0]))[0])


@pytest.mark.parametrize(
    ("key", "status", "words"),
    [("jpeg_renamed", 415, "not a GeoTIFF"), ("no_crs", 422, "no CRS"), ("single_band", 422, "match no sensor"),
     ("huge_truncated", 413, "gigapixel"), ("truncated", 422, "truncated")],
)
def test_bad_rasters_are_refused(tmp_path: Path, key: str, status: int, words: str) -> None:
    with pytest.raises(BadInput, match=words) as e:
        validate_raster(broken(tmp_path)[key])
    assert status_of(e.value) == status


def test_sensor_mismatch_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="needs 5 bands"):
        validate_raster(synthetic_rgba(tmp_path / "a.tif"), sensor="micasense_rededge")


@pytest.mark.parametrize("blocks", [16, 64])
def test_windows_are_block_aligned_and_cover_once(tmp_path: Path, blocks: int) -> None:
    info = validate_raster(synthetic_rgba(tmp_path / "a.tif", blocks=blocks))
    cover = np.zeros((info.height, info.width), int)
    for w in iter_windows(info, 100):
        assert w.row_off % blocks == 0 and w.col_off % blocks == 0
        cover[int(w.row_off) : int(w.row_off + w.height), int(w.col_off) : int(w.col_off + w.width)] += 1
    assert (cover == 1).all()
    strips = validate_raster(BALI)  # strips of 2 rows
    assert all(w.row_off % 2 == 0 for w in iter_windows(strips, 512))


def test_rgb_analysis_outputs_on_input_grid(tmp_path: Path) -> None:
    src = synthetic_rgba(tmp_path / "field.tif")
    summary = analyze_orthomosaic(src, tmp_path / "out", tile_size_px=64)
    with rasterio.open(src) as s:
        grid = (s.crs, s.transform, s.shape)
    arrays = {}
    for name in ("canopy", "growth", "damage"):
        with rasterio.open(tmp_path / "out" / f"{name}.tif") as d:
            assert (d.crs, d.transform, d.shape) == grid and d.nodata == 255 and d.dtypes[0] == "uint8"
            assert d.profile["tiled"] and d.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            assert d.tags()["CROPWATCH_LAYER"] == name  # so the spray planner knows a canopy map from a damage map
            arrays[name] = d.read(1)
    c, g, dmg = arrays["canopy"], arrays["growth"], arrays["damage"]
    assert (c[:, -7:] == 255).all() and (dmg[:, -7:] == 255).all()  # alpha 0 -> nodata
    assert (c[:, 45:100] == 1).all() and (c[:, :40] == 0).all()  # paddy green vs bare soil
    h, w = c.shape
    assert dmg[h // 2, w // 2] >= 90  # the straw-brown disc
    assert (dmg[:, :40] == 0).all() and (dmg[:, 60:100] < 10).all()  # soil and healthy canopy are not damage
    assert g[:, 60:100].mean() > 60 and g[:, :40].max() < 10
    s = DroneSummary.model_validate_json((tmp_path / "out" / "summary.json").read_text())
    assert s == summary and s.damage_method == "index_anomaly"
    assert s.damaged_area_ha == pytest.approx(np.pi * 30**2 * 0.25 / 1e4, rel=0.15)
    assert s.analysed_area_ha == pytest.approx((w - 7) * h * 0.25 / 1e4)
    assert not list((tmp_path / "out").glob(".analysis-*"))  # no temporary left


def test_maps_compression_and_a_deflate_copy(tmp_path: Path) -> None:
    """The service stores ZSTD maps; `compression="deflate"` writes DEFLATE ones, and `recompressed` makes a DEFLATE
    copy of a stored map with the same pixels, overviews and layer tag, once. An unknown compression is refused
    before anything is written."""
    src = synthetic_rgba(tmp_path / "field.tif")
    analyze_orthomosaic(src, tmp_path / "z", tile_size_px=64)
    analyze_orthomosaic(src, tmp_path / "d", tile_size_px=64, compression="deflate")
    for name in ("canopy", "growth", "damage"):
        stored = tmp_path / "z" / f"{name}.tif"
        copy = drone.recompressed(stored, tmp_path / "copies" / f"{name}.tif", "deflate")
        with rasterio.open(stored) as z, rasterio.open(tmp_path / "d" / f"{name}.tif") as d, rasterio.open(copy) as c:
            assert (z.compression.value, d.compression.value, c.compression.value) == ("ZSTD", "DEFLATE", "DEFLATE")
            assert (z.read(1) == d.read(1)).all() and (z.read(1) == c.read(1)).all()
            assert c.overviews(1) == z.overviews(1) and c.tags()["CROPWATCH_LAYER"] == name
            assert c.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        made = copy.stat().st_mtime_ns
        assert drone.recompressed(stored, copy, "deflate") == copy and copy.stat().st_mtime_ns == made  # made once
        assert drone.recompressed(copy, tmp_path / "unused.tif", "deflate") == copy  # DEFLATE already: as it is
    assert not (tmp_path / "unused.tif").exists()
    with pytest.raises(BadInput, match="unknown compression 'lzw'; known: zstd, deflate"):
        analyze_orthomosaic(src, tmp_path / "bad", compression="lzw")
    assert not (tmp_path / "bad").exists()


def test_canopy_does_not_depend_on_the_files_block_layout(tmp_path: Path) -> None:
    """The same pixels stored in 64 px tiles and in strips, analysed in windows of 128 px: one canopy threshold for
    the whole raster gives the same canopy (a threshold per window gave 5.6 % against 4.6 % on the sorghum mosaic,
    and seams at window edges). Pixels within the blur's reach of a window edge may differ."""
    with rasterio.open(BALI) as src:
        data, prof = src.read(), src.profile.copy()
    outs = []
    for name, layout in (("tiled", {"tiled": True, "blockxsize": 64, "blockysize": 64}),
                         ("strips", {"tiled": False, "blockysize": 5})):  # windows start on odd rows too
        path = tmp_path / f"{name}.tif"
        with rasterio.open(path, "w", **{**prof, **layout}) as dst:
            dst.write(data)
        s = analyze_orthomosaic(path, tmp_path / f"out_{name}", tile_size_px=128)
        with rasterio.open(tmp_path / f"out_{name}" / "canopy.tif") as ds:
            outs.append((s, ds.read(1)))
    (s1, c1), (s2, c2) = outs
    assert abs(s1.canopy_cover_pct - s2.canopy_cover_pct) < 0.05  # a threshold per window: 0.24 points apart
    assert np.mean(c1 != c2) < 0.002  # 0.09 %: the 0.7 px blur at window edges
    assert s1.anomaly == s2.anomaly  # the index-anomaly reference: the canopy's median and spread


def tagged(path: Path, data: np.ndarray, prof: dict, tags: list) -> Path:
    """`data` written with `prof` and these colour tags (photometric MINISBLACK, so GDAL keeps them as given)."""
    with rasterio.open(path, "w", **{**prof, "count": len(data), "photometric": "MINISBLACK"}) as dst:
        dst.write(data)
        dst.colorinterp = tags
    return path


def test_bands_are_read_by_their_colour_tags_and_a_fourth_band_must_be_a_mask(tmp_path: Path) -> None:
    """A BGRA export tagged blue, green, red, alpha is read as such (it was read as RGB: 4x the damage, canopy 36 %
    for 29 %); a fourth band of near-infrared (values other than 0 and 255, tagged undefined) is no alpha mask: it is
    left out with a warning (its dark pixels were 'outside the mosaic'); black pixels of a file with no alpha, mask or
    nodata are the collar round the mosaic, not field."""
    from rasterio.enums import ColorInterp as CI

    src = bali_crop(tmp_path / "bali.tif")
    with rasterio.open(src) as ds:
        data, prof = ds.read(), ds.profile.copy()
    base = analyze_orthomosaic(src, tmp_path / "base")
    bgra = tagged(tmp_path / "bgra.tif", data[[2, 1, 0, 3]], prof, [CI.blue, CI.green, CI.red, CI.alpha])
    s = analyze_orthomosaic(bgra, tmp_path / "bgra")
    assert s.canopy_cover_pct == pytest.approx(base.canopy_cover_pct) and s.growth_score == pytest.approx(base.growth_score)
    assert any("tagged blue, green, red, alpha" in w for w in s.warnings) and s.notices == ["bands_by_tags"]
    nir = np.where(data[3] > 0, np.clip(data[1].astype(int) + 40, 1, 254), 0).astype(np.uint8)
    rgbn = tagged(tmp_path / "rgbn.tif", np.concatenate([data[:3], nir[None]]), prof,
                  [CI.red, CI.green, CI.blue, CI.undefined])
    assert validate_raster(rgbn).sensor == "rgb_plus_band"
    s = analyze_orthomosaic(rgbn, tmp_path / "rgbn")
    assert any("band 4" in w and "no transparency mask" in w for w in s.warnings) and s.notices == ["band_left_out"]
    assert base.notices == []
    assert (data[:3, data[3] == 0] == 0).all()  # the crop's pixels outside the mosaic are black
    assert s.analysed_area_ha == pytest.approx(base.analysed_area_ha, rel=1e-3)  # the black collar is not field
    assert s.canopy_cover_pct == pytest.approx(base.canopy_cover_pct, abs=0.05)


def test_an_argb_file_and_a_near_infrared_band_with_blank_corners(tmp_path: Path) -> None:
    """Alpha tagged as the first band (ARGB) is found wherever it is; a fourth band of near-infrared whose corner
    blocks are all collar (a diagonal flight) is still no mask: the grid of sampled blocks sees its field. A model
    trained for rgb and rgba takes the rgb_plus_band profile (its bands are rgb's)."""
    from rasterio.enums import ColorInterp as CI

    src = bali_crop(tmp_path / "bali.tif", width=320, height=320)
    with rasterio.open(src) as ds:
        data, prof = ds.read(), ds.profile.copy()
    base = analyze_orthomosaic(src, tmp_path / "base")
    argb = tagged(tmp_path / "argb.tif", data[[3, 0, 1, 2]], prof, [CI.alpha, CI.red, CI.green, CI.blue])
    info = validate_raster(argb)
    assert info.sensor == "rgba" and info.profile["alpha"] == 1
    assert info.profile == drone.RasterInfo.from_check(argb, info.to_check()).profile  # through a job's record
    assert analyze_orthomosaic(argb, tmp_path / "argb").canopy_cover_pct == pytest.approx(base.canopy_cover_pct)
    yy, xx = np.mgrid[0:320, 0:320]
    field = np.abs(yy - xx) < 200  # a diagonal strip: the corner blocks are all collar
    rgbn = np.where(field, data, 0).astype(np.uint8)
    rgbn[3] = np.where(field, np.clip(data[1].astype(int) + 40, 1, 254), 0)
    path = tagged(tmp_path / "rgbn.tif", rgbn, {**prof, "blockxsize": 64, "blockysize": 64},
                  [CI.red, CI.green, CI.blue, CI.undefined])
    info = validate_raster(path)
    assert info.sensor == "rgb_plus_band"
    bundle = REPO_MODELS / "drone_damage" / (REPO_MODELS / "drone_damage" / "ACTIVE").read_text().strip()
    assert DamageModel(bundle).fits(info.sensor, info.profile)


def test_a_16_bit_stacks_mask_of_0_and_65535_is_its_alpha(tmp_path: Path) -> None:
    """A sixth band holding 0 and 65535 (a 16-bit stack's mask) is still taken for alpha, as before the check that a
    mask holds a mask's values; the same band holding measurements is not, and no profile fits (a clear refusal)."""
    src = multispectral(tmp_path / "ms.tif")
    with rasterio.open(src) as ds:
        data, prof = ds.read(), ds.profile.copy()
    mask = np.full((1, *data.shape[1:]), 65535, np.uint16)
    mask[:, :, -10:] = 0
    for name, sixth in (("mask", mask), ("nir", data[3:4])):
        path = tmp_path / f"{name}.tif"
        with rasterio.open(path, "w", **{**prof, "count": 6}) as dst:
            dst.write(np.concatenate([data, sixth]))
        if name == "mask":
            assert validate_raster(path).sensor == "micasense_rededge_alpha"
        else:
            with pytest.raises(BadInput, match="match no sensor profile"):
                validate_raster(path)


def test_a_mosaic_black_in_every_band_says_so(tmp_path: Path) -> None:
    """Every pixel valid (alpha 255) and black: no index anywhere; it was recorded as a bare field with no word."""
    src = synthetic_rgba(tmp_path / "a.tif")
    with rasterio.open(src, "r+") as ds:
        ds.write(np.zeros((3, ds.height, ds.width), np.uint8), [1, 2, 3])
    s = analyze_orthomosaic(src, tmp_path / "out")
    assert s.notices == ["mostly_black"] and any("black in every band" in w for w in s.warnings)


def test_a_corrupt_block_inside_the_file_is_a_clear_refusal(tmp_path: Path) -> None:
    """The upload's check decodes the first and last blocks; a block spoilt in the middle failed the job with "the
    analysis failed (RasterioIOError ...); retry it" (the CLI: a traceback). Now a BadInput with reason
    raster_truncated that says where, and no output folder."""
    src = bali_crop(tmp_path / "bali.tif")
    with rasterio.open(src) as ds:
        off = int(ds.get_tag_item("BLOCK_OFFSET_0_1", "TIFF", bidx=1))
        size = int(ds.get_tag_item("BLOCK_SIZE_0_1", "TIFF", bidx=1))
    raw = bytearray(src.read_bytes())
    raw[off : off + size] = bytes(size)
    src.write_bytes(bytes(raw))
    validate_raster(src)  # the first and last blocks are whole
    with pytest.raises(BadInput, match="cannot be read near column 0, row 0") as e:
        analyze_orthomosaic(src, tmp_path / "out")
    assert e.value.reason == "raster_truncated" and not (tmp_path / "out").exists()


def test_a_gdal_mask_band_marks_the_pixels_outside_the_mosaic(tmp_path: Path) -> None:
    """RGB with an internal GDAL mask instead of alpha or nodata (how JPEG/YCbCr mosaics are written): the masked
    pixels are nodata, as alpha 0 is (they were analysed as valid black pixels before, and partly sprayed)."""
    rgba = synthetic_rgba(tmp_path / "field.tif")
    masked = tmp_path / "masked.tif"
    with rasterio.open(rgba) as s:
        rgb, alpha, prof = s.read([1, 2, 3]), s.read(4), s.profile
    prof.update(count=3, compress="deflate")
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(masked, "w", **prof) as d:
        d.write(rgb)
        d.write_mask(alpha > 0)
    assert validate_raster(masked).mask_band and not validate_raster(rgba).mask_band
    a = analyze_orthomosaic(rgba, tmp_path / "a", tile_size_px=64)
    b = analyze_orthomosaic(masked, tmp_path / "b", tile_size_px=64)
    assert b.analysed_area_ha == a.analysed_area_ha and b.canopy_cover_pct == a.canopy_cover_pct
    for name in ("canopy", "damage"):
        with rasterio.open(tmp_path / "a" / f"{name}.tif") as x, rasterio.open(tmp_path / "b" / f"{name}.tif") as y:
            assert np.array_equal(x.read(1), y.read(1))


def test_real_ortho_crop_and_area_clip(tmp_path: Path) -> None:
    src = bali_crop(tmp_path / "bali.tif")
    info = validate_raster(src)
    a, _, c, _, e, f = info.transform
    inner = box(c + 50 * a, f + 150 * e, c + 200 * a, f + 50 * e)  # cols 50-200, rows 50-150
    area = reproject(inner, info.crs, "EPSG:4326")
    s = analyze_orthomosaic(src, tmp_path / "out", area_boundary_wgs84=area)
    with rasterio.open(tmp_path / "out" / "canopy.tif") as d:
        cnp = d.read(1)
    assert (cnp[:40] == 255).all() and (cnp[:, 210:] == 255).all()
    assert s.clipped_to_area and s.analysed_area_ha == pytest.approx(inner.area / 1e4, rel=0.05)
    far = reproject(box(c + 1e5, f - 10, c + 1e5 + 10, f), info.crs, "EPSG:4326")
    with pytest.raises(BadInput, match="does not overlap"):
        analyze_orthomosaic(src, tmp_path / "out2", area_boundary_wgs84=far)
    assert not (tmp_path / "out2" / "damage.tif").exists()


def test_a_rotated_mosaic_is_placed_by_its_four_corners(tmp_path: Path) -> None:
    """A non-north-up geotransform (rotated 20 degrees): the summary's bounds hold all four corners and an area over
    the corner that sticks out east is analysed (the axis-aligned box of the pixel size alone refused it)."""
    from affine import Affine

    src = bali_crop(tmp_path / "bali.tif")
    with rasterio.open(src) as ds:
        data, prof = ds.read(), ds.profile.copy()
    prof["transform"] = prof["transform"] * Affine.rotation(-20)
    rotated = tmp_path / "rotated.tif"
    with rasterio.open(rotated, "w", **prof) as dst:
        dst.write(data)
    info = validate_raster(rotated)
    t = Affine(*info.transform)
    pixels = [(0, 0), (info.width, 0), (info.width, info.height), (0, info.height)]
    lonlat = reproject(Polygon([t * uv for uv in pixels]), info.crs, "EPSG:4326")
    s = analyze_orthomosaic(rotated, tmp_path / "out")
    w, so, e, n = s.bounds_wgs84
    assert w <= lonlat.bounds[0] + 1e-9 and so <= lonlat.bounds[1] + 1e-9
    assert e >= lonlat.bounds[2] - 1e-9 and n >= lonlat.bounds[3] - 1e-9
    u, v = max(pixels, key=lambda uv: (t * uv)[0])  # the corner furthest east; a 6 m square 12 px inside it
    x, y = t * (u - 12 if u else 12, v - 12 if v else 12)
    area = reproject(box(x - 3, y - 3, x + 3, y + 3), info.crs, "EPSG:4326")
    clipped = analyze_orthomosaic(rotated, tmp_path / "clipped", area_boundary_wgs84=area)
    assert clipped.clipped_to_area and clipped.analysed_area_ha > 0


def test_a_flight_is_measured_against_the_area_it_covers(tmp_path: Path) -> None:
    """The share of the growing area the flight's valid pixels cover is given, with a warning when it is not all;
    a flight with no valid pixel over the area is refused and writes nothing (it gave canopy 0 % before, recorded)."""
    src = synthetic_rgba(tmp_path / "field.tif")  # 301 x 257 px of 0.5 m, the last 7 columns alpha 0
    info = validate_raster(src)
    a, _, c, _, e, f = info.transform
    inside = box(c + 10 * a, f + 250 * e, c + 100 * a, f + 10 * e)
    s = analyze_orthomosaic(src, tmp_path / "in", area_boundary_wgs84=reproject(inside, info.crs, "EPSG:4326"))
    assert s.area_covered_pct == pytest.approx(100, abs=1) and not s.warnings
    # an area twice as wide as the mosaic's valid part: about half of it covered
    half = box(c + 150 * a, f + 250 * e, c + (294 + 144) * a, f + 10 * e)
    s = analyze_orthomosaic(src, tmp_path / "half", area_boundary_wgs84=reproject(half, info.crs, "EPSG:4326"))
    assert s.area_covered_pct == pytest.approx(100 * 144 / 288, abs=1) and "of the growing area" in s.warnings[0]
    blank = tmp_path / "blank.tif"
    with rasterio.open(src) as d:
        prof, arr = d.profile, d.read()
    arr[3] = 0  # alpha 0 everywhere
    with rasterio.open(blank, "w", **prof) as d:
        d.write(arr)
    for area, where in ((reproject(inside, info.crs, "EPSG:4326"), "over the growing area"), (None, "in the file")):
        with pytest.raises(BadInput, match=f"no valid pixel {where}") as exc:
            analyze_orthomosaic(blank, tmp_path / "blank", area_boundary_wgs84=area)
        assert exc.value.reason == "raster_no_valid_pixels"
        assert not (tmp_path / "blank").exists()  # nothing written: the folder it made went too (it stayed, empty)
    (tmp_path / "kept").mkdir()  # a folder the operator made stays, empty
    with pytest.raises(BadInput):
        analyze_orthomosaic(blank, tmp_path / "kept")
    assert list((tmp_path / "kept").iterdir()) == []


def test_multispectral_uses_ndvi(tmp_path: Path) -> None:
    s = analyze_orthomosaic(multispectral(tmp_path / "ms.tif"), tmp_path / "out")
    assert s.sensor == "micasense_rededge" and s.index.primary == "ndvi"
    assert s.canopy_cover_pct == pytest.approx(50, abs=1)
    # vegetation NDVI (0.45 - 0.05) / 0.50 = 0.8, soil (0.24 - 0.18) / 0.42 = 0.143; half of each
    assert s.index.means["ndvi"] == pytest.approx(0.5 * 0.8 + 0.5 * 0.06 / 0.42, abs=0.02)


def one_by_one_bundle(path: Path) -> Path:
    """A 1x1-convolution 'segmenter': logits canopy = 4 (G - R), soil = 0, damaged = 8 (R - G) + 0.5 (on 0-1 input)."""
    import onnx
    from onnx import TensorProto, helper

    from inference.bundle import sha256_file

    w = np.array([[-4, 4, 0], [0, 0, 0], [8, -8, 0]], np.float32).reshape(3, 3, 1, 1)
    b = np.array([0, 0, 0.5], np.float32)
    # the bundle normalises (x - 0) / 1, so the conv sees 0-1 values
    node = helper.make_node("Conv", ["image", "W", "B"], ["logits"])
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, None, None])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3, None, None])],
        [helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.ravel()), helper.make_tensor("B", TensorProto.FLOAT, [3], b)],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.mkdir(parents=True)
    onnx.save(m, path / "model.onnx")
    meta = {"schema_version": "1.0", "model_name": "fake_1x1", "model_version": "0", "classes": ["canopy", "soil_water", "damaged"],
            "input_bands": ["red", "green", "blue"], "normalization": {"mean": [0, 0, 0], "std": [1, 1, 1]},
            "tile_size_px": 64, "halo_px": 4, "size_multiple": 1, "sensors": ["rgb", "rgba"], "onnx_sha256": sha256_file(path / "model.onnx")}
    (path / "model.json").write_text(json.dumps(meta))
    return path


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_damage_probability_of_logits_is_the_softmax_of_the_upsampled_logits(tmp_path: Path, stride: int) -> None:
    """probability_of_logits (differences to the damaged logit, only the kept pixels upsampled) equals the softmax of
    the whole logits upsampled bilinearly (half-pixel centres) and then cropped, to float rounding, for crops that
    touch the border or not, and with logits large enough that exp overflows."""
    import cv2

    model = DamageModel(one_by_one_bundle(tmp_path / "bundle"))
    model.logits_stride = stride
    rng = np.random.default_rng(stride)
    z = rng.normal(0, 3, (3, 40, 36)).astype(np.float32)
    z[:, 5, 5] = (200, -200, 0)  # exp(200) overflows float32: P(damaged) is 0 there
    z[:, 6, 6] = (88.5, 88.5, 0)  # two finite exps whose sum overflows
    size = (36 * stride, 40 * stride)
    up = np.stack([cv2.resize(c, size, interpolation=cv2.INTER_LINEAR) for c in z]) if stride > 1 else z
    e = np.exp((up - up.max(axis=0)).astype(np.float64))
    want = e[2] / e.sum(axis=0)
    for keep in [(slice(0, size[1]), slice(0, size[0])), (slice(3, size[1] - 5), slice(7, size[0] - 1)),
                 (slice(size[1] - 2, size[1]), slice(0, 1))]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the overflow is the limit P = 0, not a warning in the logs
            got = model.probability_of_logits(z, keep)
        assert got.dtype == np.float32 and got.shape == want[keep].shape
        assert np.abs(got - want[keep]).max() < 1e-6


def test_a_bundle_whose_graph_disagrees_with_its_layout_is_refused_when_loaded(tmp_path: Path) -> None:
    """model.json says the image is laid out 2x2 as channels (12) but the graph takes 3: refused at load (activation),
    with what is wrong, instead of an onnxruntime error on every window."""
    from inference.bundle import BundleError, sha256_file

    bundle = one_by_one_bundle(tmp_path / "bundle")
    meta = json.loads((bundle / "model.json").read_text())
    meta.update(input_space_to_depth=2, size_multiple=2, onnx_sha256=sha256_file(bundle / "model.onnx"))
    (bundle / "model.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="3 input channels .* 3 bands laid out 2x2 \\(12\\)"):
        DamageModel(bundle)


def test_model_method_through_the_real_pipeline(tmp_path: Path) -> None:
    src = synthetic_rgba(tmp_path / "field.tif")
    model = DamageModel(one_by_one_bundle(tmp_path / "bundle"))
    s = analyze_orthomosaic(src, tmp_path / "out", damage_model=model, tile_size_px=64)
    assert s.damage_method == "model" and s.damage_model.name == "fake_1x1"
    with rasterio.open(tmp_path / "out" / "damage.tif") as d:
        dmg = d.read(1)
    h, w = dmg.shape
    assert dmg[h // 2, w // 2] > 50 and dmg[10, 80] < 10 and (dmg[:, -7:] == 255).all()
    ms = analyze_orthomosaic(multispectral(tmp_path / "ms.tif"), tmp_path / "out_ms", damage_model=model)
    assert ms.damage_method == "index_anomaly"  # an RGB (8-bit) model does not fit a 16-bit 5-band sensor


def test_one_read_damage_matches_the_formula(tmp_path: Path) -> None:
    """The source is read once: damage comes from each pixel's index bin through a look-up table once the field's
    median and spread are known. It must equal the published rule on the exact index, within one unit."""
    src = bali_crop(tmp_path / "bali.tif")
    s = analyze_orthomosaic(src, tmp_path / "out", tile_size_px=64)
    with rasterio.open(src) as ds:
        r, g, b, a = (x.astype(np.float32) for x in ds.read())
    with rasterio.open(tmp_path / "out" / "damage.tif") as d:
        got = d.read(1).astype(int)
    gli = indices.gli(r, g, b)
    z = (np.nan_to_num(gli, nan=-9) - s.anomaly.median) / s.anomaly.robust_sd
    want = np.rint(100 * np.clip((-z - 1.5) / 2.0, 0, 1))
    want = np.where(np.nan_to_num(gli, nan=-9) > 0.02, want, 0)
    want = np.where(a > 0, want, 255).astype(int)
    assert np.abs(got - want).max() <= 1
    assert s.damaged_pct == pytest.approx(100 * ((want >= 50) & (want != 255)).sum() / (a > 0).sum(), abs=0.05)


def test_model_at_its_declared_resolution(tmp_path: Path) -> None:
    """A bundle that declares analysis_gsd_m analyses a finer raster at an integer multiple of its pixel size and
    writes damage on the input's own grid; a coarser raster is never upsampled."""
    bundle = one_by_one_bundle(tmp_path / "bundle")
    meta = json.loads((bundle / "model.json").read_text())
    (bundle / "model.json").write_text(json.dumps({**meta, "analysis_gsd_m": 1.1}))
    model = DamageModel(bundle)
    assert model.factor(0.5) == 2 and model.factor(0.02) == 55 and model.factor(2.0) == 1
    src = synthetic_rgba(tmp_path / "field.tif")  # 0.5 m pixels
    s = analyze_orthomosaic(src, tmp_path / "out", damage_model=model, tile_size_px=64)
    assert s.damage_pixel_size_m == pytest.approx(1.0)
    with rasterio.open(src) as a, rasterio.open(tmp_path / "out" / "damage.tif") as d:
        assert (d.crs, d.transform, d.shape) == (a.crs, a.transform, a.shape)
        dmg = d.read(1)
    h, w = dmg.shape
    assert dmg[h // 2, w // 2] > 50 and dmg[10, 80] < 10 and (dmg[:, -7:] == 255).all()


def test_rgb_tables_equal_the_float_path_on_every_colour() -> None:
    """GLI's products by look-up (code, growth, candidacy, index canopy) equal the float path on all 2^24 colours,
    black (GLI undefined) included."""
    prof = {"growth_range": (0.0, 0.25), "anomaly_floor": 0.02, "canopy_threshold": 0.05}
    t = drone._rgb8_tables(prof["growth_range"], prof["anomaly_floor"], prof["canopy_threshold"])
    rb = np.arange(256, dtype=np.float32)
    r, b = (x.ravel() for x in np.meshgrid(rb, rb, indexing="ij"))
    for g in range(256):
        data = np.stack([r, np.full_like(r, g), b]).astype(np.uint8)
        key = t.key(data)
        idx = indices.gli(r, np.full_like(r, g), b)
        growth = drone._growth(idx.copy(), prof["growth_range"])
        np.copyto(growth, np.float32(0), where=np.isnan(growth))
        assert (t.code[key] == drone._bin_codes(idx)).all()
        assert (t.candidate[key] == (idx > prof["anomaly_floor"])).all()
        assert (t.canopy[key] == (idx > prof["canopy_threshold"])).all()
        assert (t.growth[key].view(np.uint32) == growth.view(np.uint32)).all()  # bit for bit


@pytest.mark.parametrize("canopy_method", ["lab_a_otsu", "index"])
def test_rgb_tables_equal_the_float_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, canopy_method: str) -> None:
    """8-bit RGB windows take GLI's products from look-up tables; the outputs and the summary are those of the float
    path, exactly, on the real Bali crop clipped to an area, with either canopy method (a profile may ask for the
    index's threshold)."""
    src = bali_crop(tmp_path / "bali.tif")
    info = validate_raster(src)
    info = dataclasses.replace(info, profile={**info.profile, "canopy_method": canopy_method})
    a, _, c, _, e, f = info.transform
    area = reproject(box(c + 30 * a, f + 170 * e, c + 220 * a, f + 20 * e), info.crs, "EPSG:4326")
    used = []
    monkeypatch.setattr(drone, "_rgb8_tables", lambda *k, _f=drone._rgb8_tables: used.append(k) or _f(*k))
    fast = analyze_orthomosaic(src, tmp_path / "fast", area_boundary_wgs84=area, tile_size_px=64, info=info)
    assert used  # the table path ran
    monkeypatch.setattr(drone, "_uses_rgb8_tables", lambda data, prof: False)
    slow = analyze_orthomosaic(src, tmp_path / "slow", area_boundary_wgs84=area, tile_size_px=64, info=info)
    for name in ("canopy", "growth", "damage"):
        with rasterio.open(tmp_path / "fast" / f"{name}.tif") as x, rasterio.open(tmp_path / "slow" / f"{name}.tif") as y:
            assert (x.read() == y.read()).all(), name
    assert fast.model_dump(exclude={"seconds"}) == slow.model_dump(exclude={"seconds"})
    assert 0 < fast.canopy_cover_pct < 100 and fast.mean_damage_probability > 0  # a comparison with something in it


def test_halo_reads_equal_rasterios_boundless_read(tmp_path: Path) -> None:
    """_read's halo beyond the raster's edge (zero-filled in numpy) equals rasterio's boundless read, fill 0, on every
    window, corners included, and the pixels outside the raster are invalid."""
    path = synthetic_rgba(tmp_path / "a.tif", blocks=64)
    info = validate_raster(path)
    halo = 24
    with rasterio.open(path) as ds:
        for w in iter_windows(info, 64):
            data, valid = drone._read(ds, info, w, halo)
            big = rasterio.windows.Window(w.col_off - halo, w.row_off - halo, w.width + 2 * halo, w.height + 2 * halo)
            want = ds.read([1, 2, 3, 4], window=big, boundless=True, fill_value=0)
            assert np.array_equal(data, want[:3])
            assert np.array_equal(valid, want[3] > 0)


def test_the_damage_networks_input_outside_the_mosaic_is_filled_from_its_neighbours() -> None:
    data = np.zeros((3, 60, 80), np.uint8)
    data[:, :, 40:] = np.array([100, 150, 50], np.uint8)[:, None, None]
    data[0, :, 70:] = 200  # a redder strip further away
    valid = np.zeros((60, 80), bool)
    valid[:, 40:] = True
    out = drone._fill_invalid(data, valid, 9)
    assert out is not data and (data[:, :, :40] == 0).all()  # the source is left as it is
    assert (out[:, valid] == data[:, valid]).all()
    assert (out[:, :, 36:40] == np.array([100, 150, 50])[:, None, None]).all()  # the square's valid mean
    far = out[:, :, :30]  # no valid pixel within the square: the window's valid mean
    assert (far == np.mean(data[:, valid], axis=1).astype(np.uint8)[:, None, None]).all()
    assert drone._fill_invalid(data, np.ones((60, 80), bool), 9) is data


@pytest.mark.parametrize("crs", ["EPSG:32648", "EPSG:3857", "EPSG:4326", "EPSG:32748"])
def test_pixel_area_is_ground_area_in_any_crs(crs: str) -> None:
    """A pixel's area is measured on the ground, checked against the geodesic area of its footprint on the WGS84
    ellipsoid (pyproj.Geod, an independent method): Web Mercator's nominal metres overstate area by 3.5 % at
    Soc Trang's latitude, and degrees need the ellipsoid, not a sphere."""
    from pyproj import Geod, Transformer

    from inference.sensors import RasterInfo

    lon, lat = (105.97, 9.56) if crs != "EPSG:32748" else (105.97, -6.2)
    to = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = to.transform(lon, lat)
    size = 2e-6 if crs == "EPSG:4326" else 0.2
    w = h = 2000
    transform = (size, 0.0, x - size * w / 2, 0.0, -size, y + size * h / 2)
    info = RasterInfo("x.tif", "rgb", {}, w, h, 3, crs, crs == "EPSG:4326", transform, None, (256, 256))
    back = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    c0, r0 = w // 2, h // 2
    ring = [back.transform(transform[2] + size * (c0 + dc), transform[5] - size * (r0 + dr))
            for dc, dr in ((0, 0), (1, 0), (1, 1), (0, 1))]
    geodesic = abs(Geod(ellps="WGS84").polygon_area_perimeter([p[0] for p in ring], [p[1] for p in ring])[0])
    assert info.pixel_area_m2 == pytest.approx(geodesic, rel=2e-3)
    if crs == "EPSG:3857":
        assert size * size / info.pixel_area_m2 > 1.03  # the nominal area would be 3.5 % too large


def _maps(folder: Path) -> dict[str, np.ndarray]:
    out = {}
    for name in ("canopy", "growth", "damage"):
        with rasterio.open(folder / f"{name}.tif") as d:
            out[name] = d.read(1)
    return out


@pytest.mark.parametrize(("bits", "scale"), [(8, 255.0), (12, 4095.0), (16, 65535.0)])
def test_16_bit_rgb_is_read_at_its_bit_depth(tmp_path: Path, bits: int, scale: float) -> None:
    """An RGB + alpha mosaic in 16-bit samples (a 12-bit camera's, or 8-bit values in a 16-bit file) was refused. It
    is read at the bit depth of its pixels: the canopy (CIE a* of the 8-bit colour) is the 8-bit mosaic's to the
    pixel, growth (an index, a ratio) within a level; the job carries the scale it read."""
    src = bali_crop(tmp_path / "bali.tif")
    path = deep_rgba(src, tmp_path / f"bali{bits}.tif", scale)
    info = validate_raster(path)
    assert (info.sensor, info.profile["scale"]) == ("rgba16", scale)
    assert any(f"{bits}-bit values" in n for n in info.notes) == (bits != 16)
    assert info.to_check().scale == scale and RasterInfo.from_check(path, info.to_check()).profile["scale"] == scale
    a = analyze_orthomosaic(src, tmp_path / "u8")
    b = analyze_orthomosaic(path, tmp_path / "u16", info=info)
    m8, m16 = _maps(tmp_path / "u8"), _maps(tmp_path / "u16")
    assert (m8["canopy"] == m16["canopy"]).all() and a.canopy_cover_pct == b.canopy_cover_pct
    assert b.notices == ([] if bits == 16 else ["bit_depth"])
    moved = np.abs(m8["growth"].astype(int) - m16["growth"])  # the values' rounding, largest on the darkest pixels
    assert moved.max() <= 2 and np.count_nonzero(moved > 1) <= 1e-3 * moved.size
    assert b.growth_score == pytest.approx(a.growth_score, abs=0.1)
    assert b.damaged_pct == pytest.approx(a.damaged_pct, abs=0.5)


def test_float_reflectance_stack_with_nan_outside(tmp_path: Path) -> None:
    """A 5-band multispectral stack of float reflectance (what Pix4D and Metashape export) was refused. It is read
    as reflectance, NaN pixels outside the mosaic: the maps equal the 16-bit stack's, nodata where the stack is
    NaN."""
    src = multispectral(tmp_path / "ms.tif")
    with rasterio.open(src) as ds:
        refl = ds.read().astype(np.float32) / np.float32(65535)
    refl[:, :, :7] = np.nan
    path = rewritten(src, tmp_path / "refl.tif", refl)
    info = validate_raster(path)
    assert info.sensor == "multispectral_reflectance"
    analyze_orthomosaic(src, tmp_path / "u16")
    s = analyze_orthomosaic(path, tmp_path / "f32")
    m16, m32 = _maps(tmp_path / "u16"), _maps(tmp_path / "f32")
    for name in ("canopy", "growth", "damage"):
        assert (m32[name][:, :7] == 255).all()
        assert np.abs(m32[name][:, 7:].astype(int) - m16[name][:, 7:]).max() <= 1, name
    assert s.analysed_area_ha == pytest.approx(90 * 113 * 0.08**2 / 1e4)


def test_multispectral_bands_are_placed_by_their_names(tmp_path: Path) -> None:
    """A DJI multispectral stack is blue, green, red, red edge, NIR; MicaSense puts NIR before red edge. Read in
    MicaSense's order, NDVI would be taken from the red edge. Bands named in the file (their descriptions, or GDAL's
    nir / rededge colour tags) are read where they are, and the summary says so."""
    src = multispectral(tmp_path / "ms.tif")
    with rasterio.open(src) as ds:
        data = ds.read()
    path = rewritten(src, tmp_path / "dji.tif", data[[0, 1, 2, 4, 3]])
    with rasterio.open(path, "r+") as ds:
        for i, name in enumerate(("Blue", "Green", "Red", "Red edge", "NIR"), start=1):
            ds.set_band_description(i, name)
    info = validate_raster(path)
    assert info.sensor == "micasense_rededge" and info.profile["bands"]["nir"] == 5
    assert info.profile["bands"]["red_edge"] == 4 and info.bands_moved
    analyze_orthomosaic(src, tmp_path / "a")
    s = analyze_orthomosaic(path, tmp_path / "b", info=info)
    assert all((m == n).all() for m, n in zip(_maps(tmp_path / "a").values(), _maps(tmp_path / "b").values(),
                                                 strict=True))
    assert "bands_by_tags" in s.notices and any("red edge, nir" in w for w in s.warnings)


def test_previews_and_tiles_draw_a_stacks_own_colours(tmp_path: Path) -> None:
    """A MicaSense stack is blue, green, red first: its preview was drawn from its first three bands, soil in blue.
    Drawn from the profile's bands, the soil half is redder than it is blue; a float stack's NaN border is black (it
    made the whole preview black)."""
    from inference.previews import _ortho_rgb
    from inference.sensors import display_bands

    src = multispectral(tmp_path / "ms.tif")
    with rasterio.open(src) as ds:
        refl = ds.read().astype(np.float32) / np.float32(65535)
    refl[:, :, :7] = np.nan
    path = rewritten(src, tmp_path / "refl.tif", refl)
    for f in (src, path):
        info = validate_raster(f)
        assert display_bands(info.profile) == (3, 2, 1)
        img = _ortho_rgb(f, 256, info.profile).astype(int)
        soil = img[:, 70:]
        assert (soil[..., 0] > soil[..., 2]).all()
    assert (img[:, :6] == 0).all() and img[:, 10:].max() > 0
    cir = {**info.profile, "bands": {"green": 1, "red": 2, "red_edge": 3, "nir": 4}}
    assert display_bands(cir) == (4, 2, 1)  # no blue band: the colour-infrared picture


def test_a_four_band_stack_without_blue_is_taken_when_its_bands_are_named(tmp_path: Path) -> None:
    """Green, red, red edge, NIR (Parrot Sequoia, DJI Mavic 3M): four bands that could as well be RGB and a fourth,
    so the profile takes the file only when it names them; its maps are the 5-band stack's (NDVI from NIR and red)."""
    src = multispectral(tmp_path / "ms.tif")
    with rasterio.open(src) as ds:
        data = ds.read()
    unnamed = rewritten(src, tmp_path / "four.tif", data[[1, 2, 4, 3]])
    with pytest.raises(BadInput, match="match no sensor profile"):
        validate_raster(unnamed)
    named = rewritten(src, tmp_path / "named.tif", data[[1, 2, 4, 3]])
    with rasterio.open(named, "r+") as ds:
        for i, name in enumerate(("Green", "Red", "RE", "NIR"), start=1):
            ds.set_band_description(i, name)
    info = validate_raster(named)
    assert info.sensor == "multispectral_4band" and not info.bands_moved
    analyze_orthomosaic(src, tmp_path / "five")
    analyze_orthomosaic(named, tmp_path / "four_out", info=info)
    assert all((m == n).all() for m, n in zip(_maps(tmp_path / "five").values(),
                                                 _maps(tmp_path / "four_out").values(), strict=True))


def test_the_bit_depth_leaves_out_pixels_outside_the_mosaic(tmp_path: Path) -> None:
    """A 12-bit mosaic whose outside is nodata 65535, or alpha 0 over 65535s, is still 12-bit (its outside read as a
    value gave 65535: the nearly black picture the bit depth is there to avoid); the TIFF's NBITS, when it says, is
    taken; the summary says the depth read."""
    src = bali_crop(tmp_path / "bali.tif")
    with rasterio.open(src) as ds:
        data = ds.read()
    rgb = np.rint(data[:3] * (4095 / 255)).astype(np.uint16)
    rgb[:, :, :20] = 65535
    nodata = rewritten(src, tmp_path / "nodata.tif", rgb, nodata=65535)
    alpha = data[3:].astype(np.uint16) * 257
    alpha[:, :, :20] = 0
    masked = rewritten(src, tmp_path / "alpha.tif", np.concatenate([rgb, alpha]))
    for path, sensor in ((nodata, "rgb16"), (masked, "rgba16")):
        info = validate_raster(path)
        assert (info.sensor, info.profile["scale"]) == (sensor, 4095.0)
        assert any("12-bit values (0-4095)" in n for n in info.notes)
    tagged = rewritten(src, tmp_path / "nbits.tif", np.rint(data[:3] * (1000 / 255)).astype(np.uint16), NBITS=12)
    assert validate_raster(tagged).profile["scale"] == 4095.0  # 1000 would say 10-bit; the tag says 12


def test_names_that_disagree_move_no_band(tmp_path: Path) -> None:
    """A MicaSense stack written with PHOTOMETRIC=RGB is tagged red, green, blue on its blue, green, red bands while
    its descriptions say blue, green, red: tag and description disagree, so neither moves a band (it is read in the
    profile's order, as before). An 8-bit RGB file is placed by its colour tags alone, never by descriptions. GDAL's
    nir and rededge tags place bands as descriptions do."""
    from rasterio.enums import ColorInterp as C

    src = multispectral(tmp_path / "ms.tif")
    with rasterio.open(src) as ds:
        data = ds.read()
    path = rewritten(src, tmp_path / "rgbtags.tif", data)
    with rasterio.open(path, "r+") as ds:
        ds.colorinterp = [C.red, C.green, C.blue, C.undefined, C.undefined]
        for i, name in enumerate(("Blue", "Green", "Red", "NIR", "Red edge"), start=1):
            ds.set_band_description(i, name)
    info = validate_raster(path)
    assert info.profile["bands"] == {"blue": 1, "green": 2, "red": 3, "nir": 4, "red_edge": 5} and not info.notes
    dji = rewritten(src, tmp_path / "dji.tif", data[[0, 1, 2, 4, 3]])
    with rasterio.open(dji, "r+") as ds:
        ds.colorinterp = [C.blue, C.green, C.red, C.rededge, C.nir]
    assert validate_raster(dji).profile["bands"] == {"blue": 1, "green": 2, "red": 3, "nir": 5, "red_edge": 4}
    rgb = bali_crop(tmp_path / "bali.tif")
    with rasterio.open(rgb) as ds:
        pixels = ds.read()[:3]
    described = rewritten(rgb, tmp_path / "described.tif", pixels)
    with rasterio.open(described, "r+") as ds:
        ds.colorinterp = [C.gray, C.undefined, C.undefined]
        for i, name in enumerate(("Blue", "Green", "Red"), start=1):
            ds.set_band_description(i, name)
    info = validate_raster(described)
    assert info.sensor == "rgb" and info.profile["bands"] == {"red": 1, "green": 2, "blue": 3} and not info.notes


def test_a_float_stack_with_a_nodata_value(tmp_path: Path) -> None:
    """Reflectance stacks mark their outside NaN or with a nodata value (-10000): both are outside the mosaic."""
    src = multispectral(tmp_path / "ms.tif")
    with rasterio.open(src) as ds:
        refl = ds.read().astype(np.float32) / np.float32(65535)
    refl[:, :, :7] = -10000
    s = analyze_orthomosaic(rewritten(src, tmp_path / "refl.tif", refl, nodata=-10000), tmp_path / "out")
    assert (_maps(tmp_path / "out")["growth"][:, :7] == 255).all()
    assert s.analysed_area_ha == pytest.approx(90 * 113 * 0.08**2 / 1e4)


def test_a_six_band_stack_with_a_thermal_band_when_named(tmp_path: Path) -> None:
    """MicaSense Altum: blue, green, red, red edge, NIR, thermal. Named, the five are read where they are and the
    thermal band is left out, with a warning; unnamed, it is refused (its sixth band is no mask)."""
    src = multispectral(tmp_path / "ms.tif")
    with rasterio.open(src) as ds:
        data = ds.read()
    thermal = np.full((1, *data.shape[1:]), 30000, np.uint16) + data[3:4] // 100
    altum = np.concatenate([data[[0, 1, 2, 4, 3]], thermal])
    with pytest.raises(BadInput, match="match no sensor profile"):
        validate_raster(rewritten(src, tmp_path / "unnamed.tif", altum))
    named = rewritten(src, tmp_path / "altum.tif", altum)
    with rasterio.open(named, "r+") as ds:
        for i, name in enumerate(("Blue", "Green", "Red", "Red edge", "NIR", "LWIR"), start=1):
            ds.set_band_description(i, name)
    info = validate_raster(named)
    assert info.sensor == "multispectral_plus_band" and info.profile["bands"]["nir"] == 5
    analyze_orthomosaic(src, tmp_path / "five")
    s = analyze_orthomosaic(named, tmp_path / "six", info=info)
    assert all((m == n).all() for m, n in zip(_maps(tmp_path / "five").values(), _maps(tmp_path / "six").values(),
                                                 strict=True))
    assert any("sixth band" in w for w in s.warnings) and s.notices == ["bands_by_tags", "sixth_band_left_out"]


def test_every_notice_is_said_on_the_operators_page_in_both_languages() -> None:
    """A notice code without its text showed the page's key ("notice_bit_depth") to the pilot."""
    from inference.sensors import sensor_profiles

    page = (Path(__file__).resolve().parents[2] / "api" / "static" / "operator" / "app.js").read_text()
    assert {p.get("notice", "band_left_out") for p in sensor_profiles().values() if p.get("warning")} <= set(
        drone.NOTICES)
    for code in drone.NOTICES:
        assert page.count(f"notice_{code}:") == 2, code  # the Vietnamese and the English table


@pytest.mark.parametrize("scale", [1.0, 255.0, 65535.0])
def test_float_rgb_is_read_at_its_range(tmp_path: Path, scale: float) -> None:
    """An RGB + alpha mosaic in floating-point samples (0-1 as reflectance-like colour, or 8- or 16-bit colour
    converted to float) was refused. Its range is read from its pixels: the canopy is the 8-bit mosaic's to the
    pixel, growth within a level; a range other than 0-1 is said in the warnings. Without alpha, NaN marks the
    pixels outside the mosaic."""
    src = bali_crop(tmp_path / "bali.tif")
    with rasterio.open(src) as ds:
        data = ds.read()
    rgba = np.concatenate([data[:3] * np.float32(scale / 255.0), data[3:].astype(np.float32)])
    path = rewritten(src, tmp_path / "float.tif", rgba, nodata=None)
    info = validate_raster(path)
    assert (info.sensor, info.profile["scale"]) == ("rgba_float", scale)
    assert info.to_check().scale == scale and RasterInfo.from_check(path, info.to_check()).profile["scale"] == scale
    a = analyze_orthomosaic(src, tmp_path / "u8")
    b = analyze_orthomosaic(path, tmp_path / "f32", info=info)
    m8, mf = _maps(tmp_path / "u8"), _maps(tmp_path / "f32")
    assert (m8["canopy"] == mf["canopy"]).all() and a.canopy_cover_pct == b.canopy_cover_pct
    assert np.abs(m8["growth"].astype(int) - mf["growth"]).max() <= 1
    assert b.damaged_pct == pytest.approx(a.damaged_pct, abs=0.5)
    assert any("floating-point samples run 0-255" in w for w in b.warnings) == (scale == 255.0)
    assert b.notices == []
    rgb = np.where(data[3] > 0, rgba[:3], np.float32(np.nan))  # no alpha: NaN outside the mosaic
    rgb[:, 0, :] = np.inf  # and a row of infinite values, which measure nothing either
    outside_row = int(np.count_nonzero(data[3, 0] > 0))
    nan_path = rewritten(src, tmp_path / "nan.tif", rgb, nodata=None)
    info = validate_raster(nan_path)
    assert (info.sensor, info.profile["scale"]) == ("rgb_float", scale)
    c = analyze_orthomosaic(nan_path, tmp_path / "nan", info=info)
    canopy = _maps(tmp_path / "nan")["canopy"]
    # the rest as the 8-bit file's, but for pixels near the whole raster's canopy threshold (taken without row 0)
    assert (canopy[0] == 255).all() and np.mean(canopy[1:] == m8["canopy"][1:]) > 0.999
    assert c.analysed_area_ha == pytest.approx(a.analysed_area_ha * (1 - outside_row / np.count_nonzero(data[3] > 0)))


@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_a_deep_rgb_files_fourth_band_is_left_out_when_its_colours_are_named(tmp_path: Path, dtype: str) -> None:
    """A 16-bit or float RGB file with a fourth band of near-infrared (no mask) was refused. With its red, green and
    blue bands named (colour tags) it is read as RGB, the fourth band left out with a warning; unnamed, four such
    bands may as well be a multispectral stack (green, red, red edge, NIR), and it is still refused, saying how to
    name or convert them."""
    from rasterio.enums import ColorInterp as CI

    src = bali_crop(tmp_path / "bali.tif")
    with rasterio.open(src) as ds:
        data, prof = ds.read(), ds.profile.copy()
    k = 257.0 if dtype == "uint16" else 1 / 255
    nir = np.where(data[3] > 0, np.clip(data[1].astype(int) + 40, 1, 254), 0)
    deep = (np.concatenate([data[:3], nir[None]]) * k).astype(dtype)
    prof.update(dtype=dtype, nodata=None)
    named = tagged(tmp_path / "named.tif", deep, prof, [CI.red, CI.green, CI.blue, CI.undefined])
    info = validate_raster(named)
    assert info.sensor == ("rgb16_plus_band" if dtype == "uint16" else "rgb_float_plus_band")
    s = analyze_orthomosaic(named, tmp_path / "named", info=info)
    base = analyze_orthomosaic(src, tmp_path / "base")
    assert s.notices == ["band_left_out"] and any("band 4" in w for w in s.warnings)
    assert s.canopy_cover_pct == pytest.approx(base.canopy_cover_pct, abs=0.05)
    unnamed = tagged(tmp_path / "unnamed.tif", deep, prof, [CI.gray, CI.undefined, CI.undefined, CI.undefined])
    with pytest.raises(BadInput, match="match no sensor profile") as refused:
        validate_raster(unnamed)
    assert "name its red, green and blue bands" in str(refused.value)


def test_a_four_band_file_named_by_its_descriptions_is_placed_by_them(tmp_path: Path) -> None:
    """A 16-bit blue, green, red, NIR file (Planet's 4-band layout) named by band descriptions only: its red and blue
    are read where the descriptions say (they were read as bands 1 and 3, swapped, while the warning said they were
    read as named)."""
    from rasterio.enums import ColorInterp as CI

    src = bali_crop(tmp_path / "bali.tif")
    with rasterio.open(src) as ds:
        data, prof = ds.read(), ds.profile.copy()
    nir = np.where(data[3] > 0, np.clip(data[1].astype(int) + 40, 1, 254), 0)
    bgrn = (np.concatenate([data[[2, 1, 0]], nir[None]]) * 257).astype(np.uint16)
    path = tagged(tmp_path / "bgrn.tif", bgrn, {**prof, "dtype": "uint16", "nodata": None}, [CI.gray] + [CI.undefined] * 3)
    with rasterio.open(path, "r+") as ds:
        ds.descriptions = ("Blue", "Green", "Red", "NIR")
    info = validate_raster(path)
    assert info.sensor == "rgb16_plus_band" and info.profile["bands"] == {"red": 3, "green": 2, "blue": 1}
    s = analyze_orthomosaic(path, tmp_path / "bgrn", info=info)
    base = analyze_orthomosaic(src, tmp_path / "base")
    assert s.canopy_cover_pct == pytest.approx(base.canopy_cover_pct, abs=0.05)
    assert "bands_by_tags" in s.notices


@pytest.mark.parametrize(("top", "scale"), [(256.0, 255.0), (4095.0, 4095.0), (1.03, 1.0)])
def test_a_float_files_range_has_headroom_and_the_bit_depths_between(tmp_path: Path, top: float, scale: float) -> None:
    """A 0-255 float file with one pixel overshooting to 256 (cubic resampling) was read against 65535, 257x too
    dark; 12-bit values in float were read against 65535 too."""
    src = bali_crop(tmp_path / "bali.tif")
    with rasterio.open(src) as ds:
        data = ds.read()
    rgba = np.concatenate([data[:3] * np.float32(min(top, scale) / 255.0), data[3:].astype(np.float32)])
    rgba[0, 100, 100] = top
    info = validate_raster(rewritten(src, tmp_path / "f.tif", rgba, nodata=None))
    assert (info.sensor, info.profile["scale"]) == ("rgba_float", scale)


def test_float_rgb_fill_values_and_stacks_that_look_like_rgb(tmp_path: Path) -> None:
    """Float files' edge cases: an untagged fill of 3.4e38 is refused saying how to tag it (read as the range, the
    mosaic was black); an untagged fill of -9999 is outside the mosaic, like 0; NaN samples are no mask values (an
    unnamed green, red, red edge, NIR stack with a NaN collar was taken for RGB + alpha); a 3-band float file that
    names a near-infrared band is no RGB file."""
    src = bali_crop(tmp_path / "bali.tif")
    with rasterio.open(src) as ds:
        data = ds.read()
    data[3, :, :60] = 0  # a collar down the left
    inside = data[3] > 0
    rgb = data[:3].astype(np.float32) / 255
    base = analyze_orthomosaic(rewritten(src, tmp_path / "collar.tif", data), tmp_path / "base")
    huge = rewritten(src, tmp_path / "huge.tif", np.where(inside, rgb, np.float32(3.4e38)), nodata=None)
    with pytest.raises(BadInput, match="tag it as nodata") as refused:
        validate_raster(huge)
    assert refused.value.reason == "raster_value_range"
    fill = rewritten(src, tmp_path / "fill.tif", np.where(inside, rgb, np.float32(-9999)), nodata=None)
    s = analyze_orthomosaic(fill, tmp_path / "fill")
    assert validate_raster(fill).sensor == "rgb_float"
    assert s.analysed_area_ha == pytest.approx(base.analysed_area_ha, rel=1e-3)
    stack = np.where(inside, np.concatenate([rgb[[1, 0]], rgb[:1] * 0.9, rgb[1:2] * 1.5]), np.float32(np.nan))
    keep = np.zeros(inside.shape, bool)
    keep[100:110, 100:110] = True  # the sampled blocks are nearly all collar: NaN in 99.9 % of their pixels
    stack = np.where(keep, stack, np.float32(np.nan))
    with pytest.raises(BadInput, match="match no sensor profile"):
        validate_raster(rewritten(src, tmp_path / "grrn.tif", stack.astype(np.float32), nodata=None))
    grn = rewritten(src, tmp_path / "grn.tif", np.where(inside, rgb[[1, 0, 2]], np.float32(np.nan)), nodata=None)
    with rasterio.open(grn, "r+") as ds:
        ds.descriptions = ("Green", "Red", "NIR")
    with pytest.raises(BadInput, match="match no sensor profile"):
        validate_raster(grn)
