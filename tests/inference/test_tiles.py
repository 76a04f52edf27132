"""Map tiles: the ortho tile shows the orthomosaic's own pixels where they are on the ground; analysis tiles use
the layer's colours; outside the raster, transparent."""

from __future__ import annotations

import io
from pathlib import Path

import morecantile
import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.warp import transform as warp_points

from inference.drone import analyze_orthomosaic
from inference.sensors import validate_raster
from inference.tiles import colour_table, render_tile
from tests.data.make_rasters import bali_crop, deep_rgba, multispectral, rewritten

TMS = morecantile.tms.get("WebMercatorQuad")


def rgba(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def centre_tile(path: Path, z: int) -> morecantile.Tile:
    """The web-map tile at zoom `z` under the raster's centre pixel."""
    with rasterio.open(path) as ds:
        x, y = ds.xy(ds.height // 2, ds.width // 2)
        lon, lat = warp_points(ds.crs, "EPSG:4326", [x], [y])
    return TMS.tile(lon[0], lat[0], z)


def test_ortho_tile_shows_the_mosaic_where_it_lies(tmp_path: Path) -> None:
    src = bali_crop(tmp_path / "bali.tif")
    info = validate_raster(src)
    with rasterio.open(src) as ds:
        data = ds.read()
    t = centre_tile(src, 21)
    img = rgba(render_tile(src, "ortho", t.z, t.x, t.y, info.profile))
    assert (img[..., 3] == 255).all()  # a z21 tile (19 m) in the middle of the crop is all mosaic
    # the pixel under the tile's centre is the mosaic's pixel there (bilinear: within a few levels)
    b = TMS.xy_bounds(t)
    cx, cy = warp_points("EPSG:3857", info.crs, [(b.left + b.right) / 2], [(b.top + b.bottom) / 2])
    with rasterio.open(src) as ds:
        r, c = ds.index(cx[0], cy[0])
    patch = data[:3, r - 1 : r + 2, c - 1 : c + 2].reshape(3, -1)
    got = img[128, 128, :3].astype(int)
    assert all(patch[i].min() - 12 <= got[i] <= patch[i].max() + 12 for i in range(3)), (got, patch)
    far = rgba(render_tile(src, "ortho", 21, 0, 0, info.profile))
    assert far[..., 3].max() == 0


def test_a_12_bit_mosaics_ortho_tile_looks_like_the_8_bit_one(tmp_path: Path) -> None:
    """16-bit RGB is drawn by its bit depth (a 12-bit camera's mosaic stretched as reflectance 0-0.3 was white)."""
    src = bali_crop(tmp_path / "bali.tif")
    deep = deep_rgba(src, tmp_path / "bali12.tif")
    t = centre_tile(src, 21)
    a = rgba(render_tile(src, "ortho", t.z, t.x, t.y, validate_raster(src).profile)).astype(int)
    b = rgba(render_tile(deep, "ortho", t.z, t.x, t.y, validate_raster(deep).profile)).astype(int)
    assert np.abs(a - b).max() <= 2


def test_a_reflectance_stacks_nan_outside_is_transparent(tmp_path: Path) -> None:
    """NaN marks the outside of a float reflectance stack whatever its nodata tag: transparent on the ortho layer,
    not opaque black; the stack is drawn by its own red, green and blue, stretched from 0 to 0.3."""
    src = multispectral(tmp_path / "ms.tif")
    with rasterio.open(src) as ds:
        refl = ds.read().astype(np.float32) / np.float32(65535)
    t = centre_tile(src, 21)
    opaque = []
    for name, cut in (("whole", 0), ("nan", 30)):
        data = refl.copy()
        data[:, :, :cut] = np.nan
        path = rewritten(src, tmp_path / f"{name}.tif", data)
        img = rgba(render_tile(path, "ortho", t.z, t.x, t.y, validate_raster(path).profile))
        opaque.append(int(np.count_nonzero(img[..., 3])))
        assert img[..., :3][img[..., 3] > 0].max() > 60  # 0.05-0.18 reflectance of 0.3: not black
    assert 0 < opaque[1] < 0.9 * opaque[0]


@pytest.mark.parametrize("layer", ["canopy", "growth", "damage"])
def test_analysis_tiles_use_the_layer_colours(tmp_path: Path, layer: str) -> None:
    src = bali_crop(tmp_path / "bali.tif")
    analyze_orthomosaic(src, tmp_path / "out")
    with rasterio.open(tmp_path / "out" / f"{layer}.tif") as ds:
        lon, lat = warp_points(ds.crs, "EPSG:4326", [ds.xy(ds.height // 2, ds.width // 2)[0]],
                               [ds.xy(ds.height // 2, ds.width // 2)[1]])
        values = set(np.unique(ds.read(1)).tolist())
    t = TMS.tile(lon[0], lat[0], 20)
    img = rgba(render_tile(tmp_path / "out" / f"{layer}.tif", layer, t.z, t.x, t.y))
    lut = {tuple(x) for x in colour_table(layer)[sorted(values)].tolist()}
    seen = {tuple(x) for x in img.reshape(-1, 4).tolist()}
    assert seen <= lut | {(0, 0, 0, 0)}  # nearest neighbour: only the layer's own colours
    with pytest.raises(ValueError, match="unknown layer"):
        render_tile(src, "ndvi", 0, 0, 0)
