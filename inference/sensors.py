"""Sensor profiles (data/sensors.json) and validation of an orthomosaic before any work."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import rasterio
from rasterio.enums import MaskFlags
from rasterio.errors import RasterioIOError

from inference.errors import BadInput, TooLarge, Unsupported, reason
from inference.results import RasterCheck

SENSORS_FILE = Path(__file__).resolve().parent / "data" / "sensors.json"
MAX_RASTER_PIXELS = 2_000_000_000  # 2 gigapixels per file; larger mosaics are split before upload
# DEFLATE cannot shrink data more than ~1032:1; JPEG and LZW orthomosaics are 5-50:1. A file whose declared pixels
# would need far more bytes than it has is sparse or lies in its header, and would hold a worker for hours.
MAX_DECLARED_TO_FILE_RATIO = 2000


@lru_cache
def sensor_profiles(path: str = str(SENSORS_FILE)) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in json.loads(Path(path).read_text()).items() if not k.startswith("_")}


@dataclass(frozen=True)
class RasterInfo:
    path: str
    sensor: str
    profile: dict[str, Any]
    width: int
    height: int
    count: int
    crs: str  # WKT or EPSG:nnnn
    crs_is_geographic: bool
    transform: tuple[float, ...]  # affine a, b, c, d, e, f
    nodata: float | None
    block_shape: tuple[int, int]  # rows, cols
    mask_band: bool = False  # no alpha band, no nodata value: a GDAL mask band (per dataset) says which pixels are valid
    notes: tuple[str, ...] = ()  # what validation decided that the analysis' summary must say (bands reordered, left out)

    def to_check(self) -> RasterCheck:
        """What validation learnt, as the typed document that travels with a job."""
        placed = {**self.profile["bands"], **({"alpha": self.profile["alpha"]} if self.profile["alpha"] else {})}
        return RasterCheck(sensor=self.sensor, width=self.width, height=self.height, count=self.count, crs=self.crs,
                           crs_is_geographic=self.crs_is_geographic, transform=list(self.transform),
                           nodata=self.nodata, block_shape=list(self.block_shape), mask_band=self.mask_band,
                           band_map=placed if self.bands_moved else None, notes=list(self.notes),
                           scale=self.profile["scale"] if self.profile.get("scale_from_data") else None)

    @classmethod
    def from_check(cls, path: str | Path, check: RasterCheck) -> RasterInfo:
        """The RasterInfo of a file validated earlier (no file access)."""
        profile = sensor_profiles()[check.sensor]
        if check.band_map:  # the bands in the profile's own order: the analysis takes red, green, blue by position
            placed = check.band_map
            profile = {**profile, "alpha": placed.get("alpha"), "bands": {k: placed[k] for k in profile["bands"]}}
        if check.scale is not None:
            profile = {**profile, "scale": check.scale}
        return cls(path=str(path), sensor=check.sensor, profile=profile, width=check.width,
                   height=check.height, count=check.count, crs=check.crs, crs_is_geographic=check.crs_is_geographic,
                   transform=tuple(check.transform), nodata=check.nodata,
                   block_shape=(int(check.block_shape[0]), int(check.block_shape[1])), mask_band=check.mask_band,
                   notes=tuple(check.notes))

    @property
    def bands_moved(self) -> bool:
        """Whether the bands are read elsewhere than the sensor profile says (placed by the file's colour tags)."""
        base = sensor_profiles()[self.sensor]
        return bool(self.profile["bands"] != base["bands"] or self.profile["alpha"] != base["alpha"])

    def footprint(self) -> Any:
        """The raster's outline in its own CRS (a shapely polygon through its four corners): a rotated or sheared
        geotransform (a non-north-up mosaic) makes it no axis-aligned box."""
        from shapely.geometry import Polygon

        a, b, c, d, e, f = self.transform[:6]
        return Polygon([(a * u + b * v + c, d * u + e * v + f)
                        for u, v in ((0, 0), (self.width, 0), (self.width, self.height), (0, self.height))])

    def bounds_wgs84(self) -> tuple[float, float, float, float]:
        """West, south, east, north of the raster's footprint in EPSG:4326 (its edges densified, so that a
        projection's curved edges and a rotated raster's corners are inside)."""
        from rasterio.warp import transform_geom
        from shapely.geometry import shape

        outline = self.footprint()
        ring = outline.segmentize(max(outline.length / 400, 1e-12))
        geom = shape(transform_geom(self.crs, "EPSG:4326", ring.__geo_interface__))
        w, s_, e, n = geom.bounds
        return float(w), float(s_), float(e), float(n)

    @property
    def pixel_area_m2(self) -> float:
        """Ground area of one pixel at the raster's centre, in m2, whatever the CRS: the centre pixel's footprint
        taken to the local UTM zone (scale error under 0.1 %). A CRS's own units are not ground metres everywhere:
        Web Mercator's metres are 1 / cos(latitude) too long (1.8 % per side, 3.5 % in area at Sóc Trăng's 9.6 deg N),
        degrees shrink eastwards with latitude. Falls back to the nominal size for a CRS that cannot be placed on
        the globe (a local engineering CRS)."""
        return _ground_pixel_area_m2(self.crs, self.transform, self.width, self.height, self.crs_is_geographic)


def _ground_pixel_area_m2(crs: str, transform: tuple[float, ...], width: int, height: int,
                          geographic: bool) -> float:
    import math

    from pyproj.exceptions import ProjError
    from shapely.geometry import Polygon

    from inference.geo import reproject, to_utm

    a, b, c, d, e, f = transform[:6]
    nominal = abs(a * e - b * d)
    col, row = width // 2, height // 2
    footprint = Polygon([(a * u + b * v + c, d * u + e * v + f)
                         for u, v in ((col, row), (col + 1, row), (col + 1, row + 1), (col, row + 1))])
    try:
        lonlat = reproject(footprint, crs, "EPSG:4326")
        if not all(map(math.isfinite, lonlat.bounds)):
            raise ValueError("not on the globe")
        area = to_utm(lonlat)[0].area
        if math.isfinite(area) and area > 0:
            return float(area)
    except (ProjError, ValueError, TypeError):
        pass
    if geographic:  # no transform: the old spherical approximation at the centre latitude
        return nominal * (111_320.0**2) * math.cos(math.radians(f + e * height / 2))
    return nominal


def _guess_sensor(count: int, dtype: str, colorinterp: list[str],
                  alpha_like: Callable[[int], bool] = lambda band: True,
                  names: list[str | None] | None = None) -> str | None:
    """The first profile whose band count and type the file has. A profile with an alpha band takes a file that tags
    one band alpha (wherever it is: _placed_by_tags moves it), or whose band in the alpha's place is untagged
    (undefined, gray) and `alpha_like`: it holds a mask's values (a fourth band of near-infrared is no mask: read as
    one, its dark pixels were taken for 'outside the mosaic'). A profile without alpha never takes a file with a
    tagged alpha band of more bands than its own. A profile marked `needs_names` (a stack whose band count says too
    little: green, red, red edge, NIR could as well be RGB and a fourth; five bands and a thermal sixth) takes only a
    file whose `names` (_band_name) name each of its bands once."""
    tagged_alpha = colorinterp.count("alpha") == 1
    # a file that names a near-infrared or red-edge band is a multispectral stack: an RGB profile takes it only when
    # it names red, green and blue too (a green, red, NIR file is no RGB file)
    names = names or []
    spectral = any(n in ("nir", "red_edge") for n in names)
    for name, p in sensor_profiles().items():
        if p["band_count"] != count or dtype not in p["dtypes"]:
            continue
        named = bool(names) and all(names.count(b) == 1 for b in p["bands"])
        if (p.get("needs_names") or (spectral and set(p["bands"]) == set(RGB))) and not named:
            continue
        if p["alpha"]:
            if tagged_alpha or (colorinterp[p["alpha"] - 1] in ("undefined", "gray") and alpha_like(p["alpha"])):
                return name
            continue
        if tagged_alpha and count > len(p["bands"]):
            continue
        return name
    return None


MASK_SAMPLE_BLOCKS = 4  # per side: the blocks read to judge whether a band is a mask (a grid across the raster)
MASK_MIN_SHARE = 0.99  # of the sampled pixels, 0 or the band's one other value (a feathered edge holds the rest)


def _block_windows(ds: rasterio.io.DatasetReader, per_side_rows: int, per_side_cols: int) -> list[Any]:
    """Windows of whole blocks in a grid across the raster: `per_side_rows` x `per_side_cols` spread evenly, and the
    last row and column of blocks (a raster's corners are often all collar)."""
    from rasterio.windows import Window

    bh, bw = ds.block_shapes[0]
    rows = sorted({min(ds.height - 1, int(i * ds.height / per_side_rows)) // bh * bh
                   for i in range(per_side_rows)} | {(ds.height - 1) // bh * bh})
    cols = sorted({min(ds.width - 1, int(i * ds.width / per_side_cols)) // bw * bw
                   for i in range(per_side_cols)} | {(ds.width - 1) // bw * bw})
    return [Window(c, r, min(bw, ds.width - c), min(bh, ds.height - r)) for r in rows for c in cols]


def _sampled(ds: rasterio.io.DatasetReader, band: int) -> Any:
    """A band's pixels over a grid of blocks across the raster (_block_windows, MASK_SAMPLE_BLOCKS per side), thinned
    to about 65,536 per block; empty when a block cannot be read (the block checks say so next)."""
    import numpy as np

    bh, bw = ds.block_shapes[0]
    try:
        return np.concatenate([ds.read(band, window=w).ravel()[:: max(1, bw * bh // 65536)]
                               for w in _block_windows(ds, MASK_SAMPLE_BLOCKS, MASK_SAMPLE_BLOCKS)])
    except RasterioIOError:
        return np.zeros(0, ds.dtypes[band - 1])


def _alpha_like(ds: rasterio.io.DatasetReader) -> Callable[[int], bool]:
    """band -> whether it holds a mask's values: in a grid of blocks across the raster (_sampled), at least
    MASK_MIN_SHARE of the pixels are 0 or one other value (255, 65535); a band of measurements holds many."""
    import numpy as np

    def check(band: int) -> bool:
        v = _sampled(ds, band)
        if v.dtype.kind == "f":  # NaN or infinite samples (a float stack's collar) are no mask's values
            v = v[np.isfinite(v)]
        nonzero = v[v != 0]
        if nonzero.size == 0:
            return True  # all 0, or unreadable: the block checks say so next
        _, counts = np.unique(nonzero, return_counts=True)
        return (np.count_nonzero(v == 0) + counts.max()) >= MASK_MIN_SHARE * v.size

    return check


RGB = ("red", "green", "blue")
# A band's name from its colour tag (GDAL 3.10 tags nir and rededge too) or, untagged, its description (Metashape and
# Pix4D name multispectral bands "Blue", "Red edge", "NIR"...), in the profiles' terms
_TAG_NAMES = {"red": "red", "green": "green", "blue": "blue", "nir": "nir", "rededge": "red_edge", "alpha": "alpha"}
_DESCRIPTION_PREFIXES = (("rededge", "red_edge"), ("re", "red_edge"), ("nearinfrared", "nir"), ("nearir", "nir"),
                         ("nir", "nir"), ("blue", "blue"), ("green", "green"), ("red", "red"), ("alpha", "alpha"))


def _description_name(description: str | None) -> str | None:
    """A band description's name (letters only, lower case: "Red edge-717" is red_edge; "RE" alone is too)."""
    letters = "".join(ch for ch in (description or "").lower() if ch.isalpha())
    for prefix, name in _DESCRIPTION_PREFIXES:
        if letters.startswith(prefix) and (prefix != "re" or letters == "re"):
            return name
    return None


def _band_name(tag: str, description: str | None) -> str | None:
    """The name a band carries: its colour tag and its description where they agree or one of them is silent;
    None where they disagree (a MicaSense stack written with PHOTOMETRIC=RGB tags its blue, green, red bands red,
    green, blue, while its descriptions say blue, green, red)."""
    by_tag, by_description = _TAG_NAMES.get(tag), _description_name(description)
    if by_tag and by_description and by_tag != by_description:
        return None
    return by_tag or by_description


def _placed_by_tags(ds: rasterio.io.DatasetReader, prof: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A profile's bands placed where the file's colour tags (RGB profiles: those alone, as since 2026-11-30) or its
    band names (multispectral profiles and those marked needs_names: tags and descriptions, _band_name) say, and a
    note saying so: a BGR or BGRA export tagged as such was read as RGB (canopy, growth and damage from swapped
    colours, with no warning), a DJI multispectral stack is blue, green, red, red edge, NIR where MicaSense puts NIR
    before red edge. Only when the file names each of the profile's bands exactly once; the alpha band moves when it
    is named once."""
    # a profile taken for its names (needs_names: an RGB file with a fourth band too) is placed by the same names
    rgb_only = set(prof["bands"]) == set(RGB) and not prof.get("needs_names")
    names = [_TAG_NAMES.get(c.name) if rgb_only else _band_name(c.name, d)
             for c, d in zip(ds.colorinterp, ds.descriptions, strict=True)]
    if any(names.count(x) != 1 for x in prof["bands"]):
        return prof, []
    bands = {x: names.index(x) + 1 for x in prof["bands"]}
    alpha = prof["alpha"]
    if alpha and names.count("alpha") == 1:
        alpha = names.index("alpha") + 1
    if bands == prof["bands"] and alpha == prof["alpha"]:
        return prof, []
    order = ", ".join((n or "unused").replace("red_edge", "red edge") for n in names)
    wanted = ", ".join(x.replace("red_edge", "red edge") for x in prof["bands"])
    how = "tagged" if rgb_only else "tagged or named"
    return {**prof, "bands": bands, "alpha": alpha}, [
        f"the file's bands are {how} {order}: they were read in that order, not as {wanted}"]


def display_bands(profile: dict[str, Any]) -> tuple[int, int, int]:
    """The file's bands (1-based) that picture the mosaic as red, green and blue: its own red, green and blue where
    it has them, else the colour-infrared picture (NIR, red, green: canopy red), as where they were placed."""
    b = profile["bands"]
    if all(x in b for x in RGB):
        return b["red"], b["green"], b["blue"]
    return b["nir"], b["red"], b["green"]


# Bit depths a 16-bit container holds (scale_from_data profiles): the smallest at or above the largest sampled value
BIT_DEPTH_SCALES = (255.0, 1023.0, 4095.0, 16383.0, 65535.0)
# Ranges of floating-point RGB samples (scale_from_data profiles of float type): (the largest sampled value at most,
# the scale). 0-1 is colour as reflectance, the others 8- to 16-bit colour converted to float; each with headroom, as
# resampling (cubic, Lanczos) overshoots the top a little and reflectance does on roofs and glints: a 0-255 file with
# one pixel at 256 read against 65535 was 257x too dark. A larger peak (a fill value without a nodata tag, 3.4e38) is
# refused with how to tag it.
FLOAT_RANGES = ((2.0, 1.0), (320.0, 255.0), (1280.0, 1023.0), (5120.0, 4095.0), (20480.0, 16383.0),
                (81920.0, 65535.0))
BIT_DEPTH_GRID = 8  # blocks (tiles, or strips of rows) sampled per side for the bit depth; 64 per side for strips


def _data_scale(ds: rasterio.io.DatasetReader, prof: dict[str, Any]) -> tuple[float, str | None]:
    """The bit depth of a 16-bit RGB file's pixels (BIT_DEPTH_SCALES) and a note saying it when it is not 16: the
    TIFF's NBITS where it says, else the largest value of its red, green and blue bands over the valid pixels (not
    nodata, not alpha 0) of a grid of blocks across the file. A 12-bit camera's mosaic read against 65535 is a nearly
    black image, whose canopy colour and damage network input are wrong (the index, a ratio, is not). A float RGB
    file's range the same way (FLOAT_RANGES), NaN left out, with a note when it is not 0-1."""
    import numpy as np

    if ds.dtypes[0].startswith("float"):
        peak = _sampled_peak(ds, prof)
        scale = next((s for top, s in FLOAT_RANGES if peak <= top), None)
        if scale is None:
            raise BadInput(f"the floating-point RGB file holds values up to {peak:g}, beyond any colour range (0-1, "
                           "0-255 ... 0-65535): if that is the fill outside the mosaic, tag it as nodata "
                           "(gdal_edit.py -a_nodata VALUE in.tif), or export the mosaic as 8-bit RGB",
                           reason="raster_value_range")
        if scale == 1.0:
            return scale, None
        return scale, f"the file's floating-point samples run 0-{scale:g}, not 0-1: they were read so"
    nbits = ds.tags(prof["bands"]["red"], ns="IMAGE_STRUCTURE").get("NBITS")
    if nbits and nbits.isdigit() and 8 <= int(nbits) < 16:
        scale = float(2 ** int(nbits) - 1)
    else:
        peak = _sampled_peak(ds, prof)
        scale = next(s for s in BIT_DEPTH_SCALES if peak <= s)
    if scale == 65535.0:
        return scale, None
    bits = int(round(np.log2(scale + 1)))
    return scale, f"the file's 16-bit samples hold {bits}-bit values (0-{int(scale)}): they were read as {bits}-bit"


def _sampled_peak(ds: rasterio.io.DatasetReader, prof: dict[str, Any]) -> float:
    """The largest value of the red, green and blue bands over the valid pixels (not nodata, not alpha 0, finite)
    of a grid of blocks across the file; 0 when none is valid."""
    import numpy as np

    strips = ds.block_shapes[0][1] >= ds.width  # a strip is a few rows: sample more of them
    idx = list(prof["bands"].values()) + ([prof["alpha"]] if prof["alpha"] else [])
    peak = 0.0
    for w in _block_windows(ds, BIT_DEPTH_GRID * (8 if strips else 1), BIT_DEPTH_GRID):
        try:
            v = ds.read(idx, window=w)
        except RasterioIOError:
            continue  # the block checks say so next
        rgb, ok = v[:3], np.ones(v.shape[1:], bool)
        if prof["alpha"]:
            ok &= v[3] > 0
        if ds.nodata is not None:
            ok &= ~np.all(rgb == ds.nodata, axis=0)
        if rgb.dtype.kind == "f":
            ok &= np.isfinite(rgb).all(axis=0)
        if ok.any():
            peak = max(peak, float(rgb[:, ok].max()))
    return peak


def _check_last_block(ds: rasterio.io.DatasetReader, path: str) -> None:
    """The header's block table must reach the last block and point inside the file; else the file is truncated."""
    import os

    if ds.driver != "GTiff":
        return
    bh, bw = ds.block_shapes[0]
    j, i = (ds.height - 1) // bh, (ds.width - 1) // bw
    off = ds.get_tag_item(f"BLOCK_OFFSET_{i}_{j}", "TIFF", bidx=1)
    size = ds.get_tag_item(f"BLOCK_SIZE_{i}_{j}", "TIFF", bidx=1)
    first = ds.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1)
    if first is None:
        return  # not exposed by this GDAL build: rely on the decode check
    if off is None or (int(off) and int(off) + int(size or 0) > os.path.getsize(path)):
        raise BadInput(
            f"the GeoTIFF announces {ds.width}x{ds.height} pixels but its data stops early: the file is truncated; "
            "upload it again (check the transfer finished)", reason="raster_truncated")


def _check_magic(path: str) -> None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise BadInput(f"cannot read the upload: {reason(exc)}", reason="raster_unreadable") from exc
    if head not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        kind = "a JPEG" if head[:3] == b"\xff\xd8\xff" else "a PNG" if head[:4] == b"\x89PNG" else "not a TIFF"
        raise Unsupported(f"the file is {kind}, not a GeoTIFF; export the orthomosaic as GeoTIFF", reason="raster_not_tiff")


def _check_georeference_and_size(ds: rasterio.io.DatasetReader, max_pixels: int) -> None:
    if ds.crs is None or ds.transform.is_identity:
        raise BadInput(
            "the GeoTIFF has no CRS or geotransform; export it with its georeference (e.g. EPSG:32648, UTM 48N)",
            reason="raster_no_georeference")
    if ds.width * ds.height > max_pixels:
        raise TooLarge(f"the raster has {ds.width}x{ds.height} pixels, over the {max_pixels / 1e9:g} "
                       "gigapixel limit; split the mosaic", reason="raster_too_many_pixels")


def _check_declared_size(ds: rasterio.io.DatasetReader, path: str) -> None:
    import numpy as np

    declared = ds.width * ds.height * ds.count * np.dtype(ds.dtypes[0]).itemsize
    size = os.path.getsize(path)
    if declared > MAX_DECLARED_TO_FILE_RATIO * max(size, 1):
        raise BadInput(
            f"the GeoTIFF declares {ds.width}x{ds.height} pixels ({declared / 1e9:.1f} GB of data) but the file holds "
            f"only {size / 1e6:.1f} MB: it is sparse or its header is wrong; export the orthomosaic again",
            reason="raster_truncated")


def _resolve_sensor(ds: rasterio.io.DatasetReader, sensor: str | None) -> str:
    """The given sensor profile, checked against the bands, or the one the bands match."""
    dtype = ds.dtypes[0]
    profiles = sensor_profiles()
    if sensor is None:
        sensor = _guess_sensor(ds.count, dtype, [c.name for c in ds.colorinterp], _alpha_like(ds),
                               [_band_name(c.name, d) for c, d in zip(ds.colorinterp, ds.descriptions, strict=True)])
        if sensor is None:
            raise BadInput(
                f"{ds.count} band(s) of {dtype} match no sensor profile; need RGB (8-bit, 16-bit or float), RGB + "
                f"alpha, or a 5-band multispectral stack (16-bit, or float reflectance). Known profiles: "
                f"{', '.join(profiles)}. "
                f"{_how_to_convert(ds)}",
                reason="raster_bands")
    elif sensor not in profiles:
        raise BadInput(f"unknown sensor {sensor!r}; known: {', '.join(profiles)}", reason="raster_unknown_sensor")
    prof = profiles[sensor]
    if ds.count != prof["band_count"] or dtype not in prof["dtypes"]:
        raise BadInput(
            f"sensor {sensor} needs {prof['band_count']} bands of {'/'.join(prof['dtypes'])}; the file has "
            f"{ds.count} of {dtype}", reason="raster_bands")
    return sensor


def _how_to_convert(ds: rasterio.io.DatasetReader) -> str:
    """What to run to make an unsupported orthomosaic one that is supported (GDAL's gdal_translate)."""
    if ds.count == 6 and ds.dtypes[0] in ("uint16", "float32", "float64"):
        return ("A 6-band stack whose sixth band is no mask (0 and one other value): name its bands (descriptions "
                "Blue, Green, Red, Red edge, NIR, and any other for the sixth, which is then left out), keep the five "
                "(gdal_translate -b 1 -b 2 -b 3 -b 4 -b 5 in.tif out.tif), or export the mask as the sixth band")
    if ds.count in (5, 6) and ds.dtypes[0] not in ("uint16", "float32", "float64"):
        return ("For a 5-band multispectral stack of another type, make it 16-bit (gdal_translate -ot UInt16 in.tif "
                "out.tif) or reflectance 0-1 in 32-bit float (gdal_translate -ot Float32 -scale 0 65535 0 1 in.tif "
                "out.tif)")
    if ds.count == 4 and ds.dtypes[0] in ("uint16", "float32", "float64"):
        return ("For an RGB mosaic with a fourth band that is no mask (0 and one other value), name its red, green and "
                "blue bands (colour tags or descriptions: the fourth is then left out) or keep those three "
                "(gdal_translate -b 1 -b 2 -b 3 in.tif out.tif); for a stack of green, red, red edge and NIR, name its "
                "bands (gdal_edit.py or the export's band names) or choose the sensor profile "
                "multispectral_4band" + ("" if ds.dtypes[0] == "uint16" else "_reflectance"))
    if ds.count >= 3 and ds.dtypes[0] not in ("uint8", "uint16", "float32", "float64"):
        return ("For an RGB mosaic of another type, make it 8-bit: gdal_translate -ot Byte -scale -b 1 -b 2 -b 3 "
                "in.tif out.tif (add -b 4 for its alpha band; -scale 0 4095 0 255 for 12-bit values)")
    if ds.count >= 4:
        return ("For an RGB mosaic with more bands, keep red, green and blue: gdal_translate -b 1 -b 2 -b 3 in.tif "
                "out.tif (with an alpha band of 0 and the maximum outside and inside the mosaic, add it as band 4); "
                "for a stack of green, red, red edge and NIR, name its bands (gdal_edit.py or the export's band "
                "names) or choose the sensor profile multispectral_4band")
    if ds.count < 3:
        return "A single-band or two-band file (a grey image, one index) cannot be analysed: export the RGB mosaic"
    return "Export the mosaic as RGB (optionally with an alpha band), 8-bit"


def _check_first_and_last_block(ds: rasterio.io.DatasetReader) -> None:
    """Decode the first and the last block: catches truncated and corrupt files before any job starts."""
    from rasterio.windows import Window

    try:
        bh, bw = ds.block_shapes[0]
        ds.read(1, window=Window(0, 0, min(bw, ds.width), min(bh, ds.height)))
        last = Window(max(0, ds.width - bw), max(0, ds.height - bh), min(bw, ds.width), min(bh, ds.height))
        ds.read(1, window=last)
    except RasterioIOError as exc:
        raise BadInput(f"the GeoTIFF's pixels cannot be read ({reason(exc)}); the file is truncated or corrupt",
                       reason="raster_truncated") from exc


def validate_raster(path: str | Path, sensor: str | None = None, max_pixels: int = MAX_RASTER_PIXELS) -> RasterInfo:
    """Open the file's header and check it can be analysed; nothing is read beyond the header and two blocks.

    Checks: a readable GeoTIFF, a CRS and a geotransform, a band count and type matching a sensor profile (given or
    guessed), a sane size, and that the first and last blocks decode (a truncated file fails here).
    """
    path = str(path)
    _check_magic(path)
    try:
        ds = rasterio.open(path)
    except RasterioIOError as exc:
        raise BadInput(f"the GeoTIFF cannot be opened ({reason(exc)}); it may be truncated: upload it again",
                       reason="raster_truncated") from exc
    with ds:
        _check_georeference_and_size(ds, max_pixels)
        _check_declared_size(ds, path)
        sensor = _resolve_sensor(ds, sensor)
        _check_last_block(ds, path)
        _check_first_and_last_block(ds)
        epsg = ds.crs.to_epsg()
        profile, notes = _placed_by_tags(ds, sensor_profiles()[sensor])
        if profile.get("scale_from_data"):
            scale, note = _data_scale(ds, profile)
            profile = {**profile, "scale": scale}
            notes += [note] if note else []
        if profile.get("warning"):
            notes.append(profile["warning"])
        return RasterInfo(
            path=path, sensor=sensor, profile=profile, notes=tuple(notes), width=ds.width, height=ds.height,
            count=ds.count, crs=f"EPSG:{epsg}" if epsg else ds.crs.to_wkt(), crs_is_geographic=bool(ds.crs.is_geographic),
            transform=tuple(ds.transform)[:6], nodata=ds.nodata, block_shape=tuple(ds.block_shapes[0]),
            mask_band=set(ds.mask_flag_enums[0]) == {MaskFlags.per_dataset},  # not alpha, not nodata
        )
