"""Benchmark rasters: the real Bali orthomosaic (BSD-3) tiled, mirrored in turn so seams stay continuous, to a target
size; written window by window (tiled, deflate) so building a 400 MP file needs little memory. Cached by size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from datasets.field_photos import DEFAULT_DATA_ROOT

REPO = Path(__file__).resolve().parents[1]
ORTHOS = DEFAULT_DATA_ROOT / "drone_orthos"
BALI = ORTHOS / "bali_paddies_pix4d_utm50s.tif"  # 35 cm
SORGHUM = ORTHOS / "sorghum_rows_maricopa_utm12n.tif"  # 2 cm, a typical low flight
CACHE = Path("/tmp/cropwatch-bench")


def tiled_ortho(megapixels: float, source: Path = BALI) -> Path:
    side = int(round((megapixels * 1e6) ** 0.5 / 256)) * 256
    out = CACHE / f"{'bali' if source == BALI else source.stem}_tiled_{side}.tif"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    with rasterio.open(source) as src:
        tile = src.read()
        prof = src.profile.copy()
    th, tw = tile.shape[1:]
    prof.update(width=side, height=side, tiled=True, blockxsize=512, blockysize=512, compress="deflate",
                BIGTIFF="YES", predictor=2)
    part = out.with_suffix(".part.tif")
    with rasterio.open(part, "w", **prof) as dst:
        for row in range(0, side, 512):
            for col in range(0, side, 512):
                h, w = min(512, side - row), min(512, side - col)
                rr, cc = np.arange(row, row + h), np.arange(col, col + w)
                # mirror-tile: index into the source reflected at each repeat
                ri = np.where((rr // th) % 2 == 0, rr % th, th - 1 - rr % th)
                ci = np.where((cc // tw) % 2 == 0, cc % tw, tw - 1 - cc % tw)
                block = tile[:, ri][:, :, ci]
                block[3] = 255  # the tiled mosaic is all inside
                dst.write(block, window=Window(col, row, w, h))
    part.rename(out)
    return out
