"""PNG previews that people look at: an orthomosaic with its damage, a web-map damage overlay, and a spray map's
zones coloured by rate. Drawn with OpenCV (no plotting library in the serving set); written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rasterio
from rasterio.enums import Resampling
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from inference.geo import reproject, to_utm
from inference.results import DAMAGED_THRESHOLD
from inference.sensors import display_bands

DAMAGE_NODATA = 255


def _write_png(img: np.ndarray, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.stem + ".part.png")
    cv2.imwrite(str(tmp), img)
    tmp.replace(dest)
    return dest


def _ortho_rgb(ortho: str | Path, max_side: int, profile: dict[str, Any] | None = None) -> np.ndarray:
    """The orthomosaic at most `max_side` px, uint8 (rows, cols, 3): the sensor profile's display bands
    (sensors.display_bands: a MicaSense stack's red, green and blue, not its first three, which are blue, green,
    red), else the first three bands (or its one band, as grey); other types than 8-bit stretched to their 99th
    percentile, NaN (outside a reflectance stack) black."""
    with rasterio.open(ortho) as src:
        s = min(1.0, max_side / max(src.width, src.height))
        h, w = max(1, round(src.height * s)), max(1, round(src.width * s))
        bands = list(display_bands(profile)) if profile else [1, 2, 3] if src.count >= 3 else [1, 1, 1]
        rgb = src.read(bands, out_shape=(3, h, w), resampling=Resampling.average).astype(np.float32)
        if src.dtypes[0] != "uint8":
            top = float(np.nanpercentile(rgb, 99)) if np.isfinite(rgb).any() else 1.0
            rgb = np.nan_to_num(rgb / max(top, 1e-6) * 255)
    return np.clip(rgb, 0, 255).astype(np.uint8).transpose(1, 2, 0).copy()


def render_flight_previews(ortho: str | Path, damage_tif: str | Path, out_dir: Path, max_side: int = 1024,
                           profile: dict[str, Any] | None = None) -> None:
    """OUT/preview.png (the orthomosaic, damaged pixels in magenta) and OUT/damage_overlay.png (RGBA for web maps:
    transparent below 20 %, then yellow to red with opacity rising with the probability). `profile`: the mosaic's
    sensor profile as validation placed it (which bands to draw)."""
    img = _ortho_rgb(ortho, max_side, profile)
    h, w = img.shape[:2]
    with rasterio.open(damage_tif) as d:
        dmg = d.read(1, out_shape=(h, w), resampling=Resampling.nearest)
    m = (dmg >= 100 * DAMAGED_THRESHOLD) & (dmg != DAMAGE_NODATA)
    img[m] = (0.4 * img[m] + 0.6 * np.array([255, 0, 255])).astype(np.uint8)
    _write_png(cv2.cvtColor(img, cv2.COLOR_RGB2BGR), out_dir / "preview.png")
    p = np.where(dmg == DAMAGE_NODATA, 0, dmg).astype(np.float32) / 100
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 1] = np.clip(255 * (1 - p) * 1.6, 0, 255).astype(np.uint8)
    rgba[..., 3] = np.where(p >= 0.2, np.clip(80 + 175 * p, 0, 255), 0).astype(np.uint8)
    _write_png(cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA), out_dir / "damage_overlay.png")


def _rate_colour(rate: float, top: float) -> tuple[int, int, int]:
    if rate <= 0:
        return (211, 234, 217)  # BGR light green
    t = 0.25 + 0.75 * rate / top
    return (int(40 * (1 - t)), int(220 * (1 - t) + 40 * t), int(255 - 30 * t))  # yellow -> red


def render_spray_preview(zones_fc: dict[str, Any], boundary_wgs84: BaseGeometry, dest: Path,
                         size_px: int = 800) -> Path:
    """A PNG of the zones (EPSG:4326 FeatureCollection with `rate`) coloured by rate, untreated light green, with the
    field boundary in dark green; drawn in the field's UTM zone so that shapes are true."""
    boundary, epsg = to_utm(boundary_wgs84)
    minx, miny, maxx, maxy = boundary.bounds
    s = (size_px - 20) / max(maxx - minx, maxy - miny)
    w, h = int((maxx - minx) * s) + 20, int((maxy - miny) * s) + 20
    img = np.full((h, w, 3), 255, np.uint8)

    def px(ring: Any) -> np.ndarray:
        xy = np.asarray(ring.coords)
        return np.round(np.column_stack([(xy[:, 0] - minx) * s + 10, (maxy - xy[:, 1]) * s + 10])).astype(np.int32)

    feats = zones_fc.get("features", [])
    top = max([f["properties"]["rate"] for f in feats] + [1e-9])
    for f in sorted(feats, key=lambda f: f["properties"]["rate"]):
        g = reproject(shape(f["geometry"]), "EPSG:4326", f"EPSG:{epsg}")
        for poly in getattr(g, "geoms", [g]):
            cv2.fillPoly(img, [px(poly.exterior)], _rate_colour(f["properties"]["rate"], top))
            for hole in poly.interiors:
                cv2.fillPoly(img, [px(hole)], (255, 255, 255))
            cv2.polylines(img, [px(poly.exterior)], True, (90, 90, 90), 1)
    for poly in getattr(boundary, "geoms", [boundary]):
        cv2.polylines(img, [px(poly.exterior)], True, (31, 95, 31), 3)
    return _write_png(img, dest)
