"""Web-map tiles (XYZ, Web Mercator, 256 px PNG) of an orthomosaic and of its analysis maps, read from the stored
GeoTIFFs with rio-tiler: the operator sees what the model saw under the zones.

Layers:
- ortho: the flight's own red, green and blue bands (8-bit as stored, 16-bit RGB by its bit depth, reflectance
  stretched from 0 to 0.3: the profile's `display_max`),
  transparent outside the mosaic (alpha or nodata);
- canopy: canopy green, the rest transparent;
- growth: 0-100 on a red-yellow-green ramp;
- damage: probability 0-100; below 20 transparent, then yellow to dark red, more opaque as it rises.
The analysis maps are COGs with overviews, so a tile reads a few blocks at any zoom. rio-tiler is imported with
this module, never first inside a request thread (its package import is not safe in two threads at once). Tiles
outside the raster are fully transparent (no error: a map asks for its whole view).
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader

from inference.sensors import display_bands

LAYERS = ("ortho", "canopy", "growth", "damage")
TILE = 256
NODATA = 255


def _ramp(stops: list[tuple[float, tuple[int, int, int, int]]]) -> np.ndarray:
    """(256, 4) uint8 lookup from value 0-255, linear between (value, RGBA) stops."""
    v = np.arange(256, dtype=np.float64)
    xs = [s[0] for s in stops]
    return np.stack([np.interp(v, xs, [s[1][c] for s in stops]) for c in range(4)], axis=1).round().astype(np.uint8)


@lru_cache
def colour_table(layer: str) -> np.ndarray:
    """RGBA lookup for a uint8 analysis layer (255 = nodata, transparent)."""
    if layer == "canopy":
        lut = np.zeros((256, 4), np.uint8)
        lut[1] = (26, 152, 80, 170)
    elif layer == "growth":
        lut = _ramp([(0, (215, 48, 39, 190)), (50, (254, 224, 139, 190)), (100, (26, 152, 80, 190)),
                     (254, (26, 152, 80, 190))])
    elif layer == "damage":
        lut = _ramp([(0, (0, 0, 0, 0)), (19, (0, 0, 0, 0)), (20, (255, 237, 160, 120)), (50, (253, 141, 60, 190)),
                     (100, (165, 0, 38, 230)), (254, (165, 0, 38, 230))])
    else:
        raise ValueError(f"no colour table for {layer!r}")
    lut[NODATA] = (0, 0, 0, 0)
    return lut


def _png(rgba: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def empty_tile() -> bytes:
    return _png(np.zeros((TILE, TILE, 4), np.uint8))


def _ortho_rgba(src: Any, x: int, y: int, z: int, profile: dict[str, Any]) -> np.ndarray:
    img = src.tile(x, y, z, tilesize=TILE, indexes=display_bands(profile), resampling_method="bilinear")
    data = img.data.astype(np.float32)
    scale = float(profile["scale"])
    # reflectance 0-0.3 to 0-255; a profile that does not say: 16-bit reflectance, unless its scale is a bit depth
    shown = profile.get("display_max", 1.0 if scale <= 255 or profile.get("scale_from_data") else 0.3)
    white = float(shown) * scale
    if white != 255.0:
        data = data * np.float32(255.0 / white)
    rgb = np.clip(np.nan_to_num(data), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    # NaN is outside a reflectance stack, whatever its nodata tag says (rio-tiler's mask does not know it)
    alpha = np.where((img.mask > 0) & np.isfinite(data).all(axis=0), 255, 0).astype(np.uint8)
    return np.dstack([rgb, alpha])


def render_tile(path: str | Path, layer: str, z: int, x: int, y: int, profile: dict[str, Any] | None = None) -> bytes:
    """PNG bytes of tile z/x/y of `layer` read from `path` (the orthomosaic for "ortho", else the analysis map).
    `profile`: the orthomosaic's sensor profile (bands and scale), needed for "ortho"."""
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}")
    with Reader(str(path)) as src:
        if not src.tile_exists(x, y, z):
            return empty_tile()
        try:
            if layer == "ortho":
                if profile is None:
                    raise ValueError("the ortho layer needs the sensor profile")
                return _png(_ortho_rgba(src, x, y, z, profile))
            img = src.tile(x, y, z, tilesize=TILE, indexes=1, resampling_method="nearest", nodata=NODATA)
        except TileOutsideBounds:
            return empty_tile()
    values = np.where(img.mask > 0, img.data[0], NODATA).astype(np.uint8)
    return _png(colour_table(layer)[values])
