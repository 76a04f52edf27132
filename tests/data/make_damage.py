"""Golden damage rasters for the spray-zone tests: a 200 m x 100 m field in UTM 48N (EPSG:32648) at 0.5 m, with a
28 m x 28 m fully damaged square at x 14-42 m, y 14-42 m from the field's south-west corner (4 x 4 cells of 7 m)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import LineString, box

from inference.geo import reproject

X0, Y0 = 580_000.0, 1_057_000.0  # field south-west corner, EPSG:32648
PIXEL = 0.5


def damage_raster(path: Path, margin_m: float = 10.0) -> Path:
    w = int((200 + 2 * margin_m) / PIXEL)
    h = int((100 + 2 * margin_m) / PIXEL)
    dmg = np.zeros((h, w), np.uint8)
    # raster origin: margin west and north of the field
    def rc(x: float, y: float) -> tuple[int, int]:
        return int(round((Y0 + 100 + margin_m - y) / PIXEL)), int(round((x - (X0 - margin_m)) / PIXEL))

    r1, c0 = rc(X0 + 14, Y0 + 14)
    r0, c1 = rc(X0 + 42, Y0 + 42)
    dmg[r0:r1, c0:c1] = 100
    prof = {"driver": "GTiff", "width": w, "height": h, "count": 1, "dtype": "uint8", "nodata": 255,
            "crs": "EPSG:32648", "transform": from_origin(X0 - margin_m, Y0 + 100 + margin_m, PIXEL, PIXEL)}
    with rasterio.open(path, "w", **prof) as d:
        d.write(dmg, 1)
    return path


def spots_raster(path: Path, squares: list[tuple[float, float, float, float]], margin_m: float = 10.0) -> Path:
    """The same field and grid with fully damaged squares (x0, y0, x1, y1 in m from the field's south-west corner)
    and nothing else."""
    damage_raster(path, margin_m)
    with rasterio.open(path, "r+") as d:
        dmg = np.zeros((d.height, d.width), np.uint8)
        for x0, y0, x1, y1 in squares:
            r0, c0 = d.index(X0 + x0, Y0 + y1)
            r1, c1 = d.index(X0 + x1, Y0 + y0)
            dmg[r0:r1, c0:c1] = 100
        d.write(dmg, 1)
    return path


def field_boundary_wgs84():
    return reproject(box(X0, Y0, X0 + 200, Y0 + 100), "EPSG:32648", "EPSG:4326")


def canal_wgs84(x_m: float = 150.0):
    """A canal crossing the field north-south at x_m from its west edge (a line, buffered by its layer)."""
    return reproject(LineString([(X0 + x_m, Y0 - 20), (X0 + x_m, Y0 + 120)]), "EPSG:32648", "EPSG:4326")
