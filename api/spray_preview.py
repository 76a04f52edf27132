"""PNG preview of a spray map: zones coloured by rate (untreated light green), the field boundary in dark green,
drawn with OpenCV (no plotting library in the serving set)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from shapely.geometry import shape

from api.orm import GrowingArea, SprayMap
from inference.geo import to_utm


def _colour(rate: float, top: float) -> tuple[int, int, int]:
    if rate <= 0:
        return (211, 234, 217)  # BGR light green
    t = 0.25 + 0.75 * rate / top
    return (int(40 * (1 - t)), int(220 * (1 - t) + 40 * t), int(255 - 30 * t))  # yellow -> red


def render_preview(sm: SprayMap, area: GrowingArea, dest: Path, size_px: int = 800) -> Path:
    boundary, epsg = to_utm(shape(area.boundary_geojson))
    from inference.geo import reproject

    minx, miny, maxx, maxy = boundary.bounds
    s = (size_px - 20) / max(maxx - minx, maxy - miny)
    w, h = int((maxx - minx) * s) + 20, int((maxy - miny) * s) + 20
    img = np.full((h, w, 3), 255, np.uint8)

    def px(poly) -> np.ndarray:  # type: ignore[no-untyped-def]
        xy = np.asarray(poly.exterior.coords)
        return np.round(np.column_stack([(xy[:, 0] - minx) * s + 10, (maxy - xy[:, 1]) * s + 10])).astype(np.int32)

    feats = (sm.zones_geojson or {}).get("features", [])
    top = max([f["properties"]["rate"] for f in feats] + [1e-9])
    for f in sorted(feats, key=lambda f: f["properties"]["rate"]):
        g = reproject(shape(f["geometry"]), "EPSG:4326", f"EPSG:{epsg}")
        for poly in getattr(g, "geoms", [g]):
            cv2.fillPoly(img, [px(poly)], _colour(f["properties"]["rate"], top))
            for hole in poly.interiors:
                cv2.fillPoly(img, [px(type(poly)(hole))], (255, 255, 255))
            cv2.polylines(img, [px(poly)], True, (90, 90, 90), 1)
    for poly in getattr(boundary, "geoms", [boundary]):
        cv2.polylines(img, [px(poly)], True, (31, 95, 31), 3)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".part.png")
    cv2.imwrite(str(tmp), img)
    tmp.replace(dest)
    return dest
