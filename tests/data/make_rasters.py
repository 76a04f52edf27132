"""Seeded raster fixtures with real CRSs and transforms: small crops of the real Bali orthomosaic (BSD-3) reprojected
nowhere (kept on its grid) but given odd sizes and nodata borders, a 5-band 16-bit multispectral stack, and broken
files (JPEG renamed .tif, no CRS, single band, truncated); any of them rewritten with other pixels (`rewritten`, e.g.
a 12-bit RGB + alpha copy of a Bali crop: `deep_rgba`). Made into a temp dir by the tests; nothing is committed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from datasets.field_photos import DEFAULT_DATA_ROOT

REPO = Path(__file__).resolve().parents[2]
BALI = DEFAULT_DATA_ROOT / "drone_orthos" / "bali_paddies_pix4d_utm50s.tif"


def synthetic_rgba(path: Path, width: int = 301, height: int = 257, seed: int = 0, crs: str = "EPSG:32648",
                   blocks: int = 64) -> Path:
    """RGB+alpha uint8 in UTM 48N (Soc Trang), 0.5 m pixels: a green paddy with a brownish damaged disc in the middle,
    bare-soil strip on the left, and an alpha-0 border of 7 px on the right (nodata)."""
    rng = np.random.default_rng(seed)
    rgb = np.empty((3, height, width), np.uint8)
    rgb[0] = 60 + rng.integers(0, 10, (height, width))
    rgb[1] = 140 + rng.integers(0, 10, (height, width))
    rgb[2] = 50 + rng.integers(0, 10, (height, width))
    rgb[:, :, :40] = np.array([120, 100, 80], np.uint8)[:, None, None]  # bare soil
    yy, xx = np.mgrid[0:height, 0:width]
    disc = (yy - height / 2) ** 2 + (xx - width / 2) ** 2 < 30**2
    rgb[0][disc], rgb[1][disc], rgb[2][disc] = 150, 120, 70  # hopperburn-like straw brown
    alpha = np.full((height, width), 255, np.uint8)
    alpha[:, -7:] = 0
    prof = {"driver": "GTiff", "width": width, "height": height, "count": 4, "dtype": "uint8", "crs": crs,
            "transform": from_origin(580_000.0, 1_057_500.0, 0.5, 0.5), "tiled": True, "blockxsize": blocks,
            "blockysize": blocks, "photometric": "RGB"}
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(rgb, [1, 2, 3])
        dst.write(alpha, 4)
        dst.colorinterp = [rasterio.enums.ColorInterp.red, rasterio.enums.ColorInterp.green,
                           rasterio.enums.ColorInterp.blue, rasterio.enums.ColorInterp.alpha]
    return path


def bali_crop(path: Path, col: int = 100, row: int = 120, width: int = 333, height: int = 211) -> Path:
    """A crop of the real Bali orthomosaic on its own grid (EPSG:32750), odd size, with its alpha."""
    with rasterio.open(BALI) as src:
        win = Window(col, row, width, height)
        prof = src.profile.copy()
        prof.update(width=width, height=height, transform=src.window_transform(win), tiled=True, blockxsize=128,
                    blockysize=128, compress="deflate")
        data = src.read(window=win)
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(data)
    return path


def multispectral(path: Path, width: int = 120, height: int = 90, seed: int = 1) -> Path:
    """5-band uint16 (blue, green, red, NIR, red edge) reflectance x 65535 in UTM 48N: vegetation left half, soil
    right half."""
    rng = np.random.default_rng(seed)
    refl = np.empty((5, height, width), np.float32)
    veg = np.array([0.04, 0.08, 0.05, 0.45, 0.25])[:, None, None]
    soil = np.array([0.10, 0.14, 0.18, 0.24, 0.22])[:, None, None]
    refl[:, :, : width // 2] = veg
    refl[:, :, width // 2 :] = soil
    refl += rng.normal(0, 0.003, refl.shape)
    prof = {"driver": "GTiff", "width": width, "height": height, "count": 5, "dtype": "uint16", "crs": "EPSG:32648",
            "transform": from_origin(580_000.0, 1_057_500.0, 0.08, 0.08)}
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(np.clip(refl * 65535, 0, 65535).astype(np.uint16))
    return path


def rewritten(src: Path, dst: Path, data: np.ndarray, **changes: object) -> Path:
    """`src`'s grid and layout with other pixels (and type, band count, nodata or other creation options)."""
    with rasterio.open(src) as ds:
        prof = ds.profile.copy()
    prof.update(count=data.shape[0], dtype=data.dtype.name, **changes)
    prof.pop("photometric", None)
    with rasterio.open(dst, "w", **prof) as out:
        out.write(data)
    return dst


def deep_rgba(src: Path, dst: Path, scale: float = 4095.0) -> Path:
    """An 8-bit RGB + alpha mosaic in 16-bit samples of another bit depth (`scale`: 4095 for 12-bit values), its
    alpha 0 / 65535."""
    with rasterio.open(src) as ds:
        data = ds.read()
    return rewritten(src, dst, np.concatenate([np.rint(data[:3] * (scale / 255.0)), data[3:] * 257.0]).astype(np.uint16))


def broken(dir_: Path) -> dict[str, Path]:
    dir_.mkdir(parents=True, exist_ok=True)
    out = {}
    jpg = dir_ / "photo.tif"
    jpg.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 200)
    out["jpeg_renamed"] = jpg
    nocrs = dir_ / "nocrs.tif"
    with rasterio.open(nocrs, "w", driver="GTiff", width=64, height=64, count=3, dtype="uint8") as d:
        d.write(np.zeros((3, 64, 64), np.uint8))
    out["no_crs"] = nocrs
    single = dir_ / "single.tif"
    with rasterio.open(single, "w", driver="GTiff", width=64, height=64, count=1, dtype="uint8", crs="EPSG:32648",
                       transform=from_origin(580_000, 1_057_500, 1, 1)) as d:
        d.write(np.zeros((1, 64, 64), np.uint8))
    out["single_band"] = single
    # A header that announces 100000 x 100000 pixels with a valid georeference, over the data of a 512 x 512 file:
    # what a transfer cut short after the header looks like to a reader.
    big = dir_ / "huge_truncated.tif"
    with rasterio.open(big, "w", driver="GTiff", width=512, height=512, count=3, dtype="uint8", crs="EPSG:32648",
                       transform=from_origin(580_000, 1_057_500, 0.05, 0.05), tiled=True, blockxsize=256,
                       blockysize=256) as d:
        d.write(np.full((3, 512, 512), 7, np.uint8))
    _patch_size(big, 100_000, 100_000)
    out["huge_truncated"] = big
    cut = dir_ / "truncated.tif"
    cut.write_bytes(big.read_bytes())
    _patch_size(cut, 20_000, 20_000)  # 400 MP: under the size limit, but the pixels are not there
    out["truncated"] = cut
    return out


def _patch_size(path: Path, width: int, height: int) -> None:
    """Rewrite ImageWidth (256) and ImageLength (257) of the first IFD of a little-endian classic TIFF."""
    import struct

    data = bytearray(path.read_bytes())
    assert data[:4] == b"II*\x00"
    ifd = struct.unpack_from("<I", data, 4)[0]
    (n,) = struct.unpack_from("<H", data, ifd)
    for i in range(n):
        off = ifd + 2 + 12 * i
        tag = struct.unpack_from("<H", data, off)[0]
        if tag in (256, 257):
            struct.pack_into("<HHII", data, off, tag, 4, 1, width if tag == 256 else height)
    path.write_bytes(bytes(data))
