"""Geometry helpers shared by the records, the raster pipeline and the spray zones.

Every function says which CRS its coordinates are in. Areas and distances are computed in the UTM zone of the
geometry (e.g. EPSG:32648 for the Mekong Delta), never in degrees.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import shapely
from pyproj import CRS, Transformer
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from inference.errors import BadInput, TooLarge, reason

WGS84 = CRS.from_epsg(4326)


class GeometryError(BadInput):
    """A geometry that cannot be accepted; the message says what is wrong and how to fix it."""


def utm_epsg_for(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone containing (lon, lat) in degrees (EPSG:4326)."""
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


@lru_cache(maxsize=64)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


def reproject(geom: BaseGeometry, src_crs: str, dst_crs: str) -> BaseGeometry:
    """Reproject a shapely geometry between two CRSs given as 'EPSG:nnnn', WKT or PROJ strings."""
    if CRS.from_user_input(src_crs) == CRS.from_user_input(dst_crs):
        return geom
    t = _transformer(src_crs, dst_crs)
    return shapely.transform(geom, lambda xy: _apply(t, xy))


def _apply(t: Transformer, xy: Any) -> Any:
    import numpy as np

    x, y = t.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


def to_utm(geom_wgs84: BaseGeometry) -> tuple[BaseGeometry, int]:
    """Project a geometry from EPSG:4326 to the UTM zone of its centroid; returns (geometry in metres, EPSG code)."""
    c = geom_wgs84.centroid
    epsg = utm_epsg_for(c.x, c.y)
    return reproject(geom_wgs84, "EPSG:4326", f"EPSG:{epsg}"), epsg


def area_ha(geom_wgs84: BaseGeometry) -> float:
    """Area in hectares of a polygon given in EPSG:4326, computed in its UTM zone."""
    utm, _ = to_utm(geom_wgs84)
    return float(utm.area) / 10_000.0


MAX_BOUNDARY_VERTICES = 20_000  # a surveyed field has tens to hundreds; more is a mistake or an attack


def _check_position(p: int, r: int, i: int, pos: Any) -> None:
    ok = isinstance(pos, list | tuple) and len(pos) in (2, 3) and all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in pos)
    if not ok:
        raise GeometryError(f"polygon {p} ring {r} position {i} is {str(pos)[:40]}; a position is [longitude, latitude] "
                            "in degrees")


def _check_rings_closed(geojson: dict[str, Any], max_vertices: int = MAX_BOUNDARY_VERTICES) -> None:
    gtype = geojson.get("type")
    coords: Any = geojson.get("coordinates")
    polys: Any
    if gtype == "Polygon":
        polys = [coords]
    elif gtype == "MultiPolygon":
        polys = coords
    else:
        raise GeometryError(f"boundary must be a Polygon or MultiPolygon, got {gtype!r}")
    if not isinstance(polys, list) or not polys:
        raise GeometryError("boundary has no coordinates")
    n = 0
    for p, rings in enumerate(polys):
        if not isinstance(rings, list) or not rings:
            raise GeometryError(f"polygon {p} has no rings")
        for r, ring in enumerate(rings):
            n += len(ring) if isinstance(ring, list) else 0
            if n > max_vertices:
                raise TooLarge(f"the boundary has more than {max_vertices} positions; simplify it (e.g. QGIS "
                               "'Simplify', 0.1 m) and upload again")
            if not isinstance(ring, list) or len(ring) < 4:
                raise GeometryError(
                    f"polygon {p} ring {r} has {len(ring) if isinstance(ring, list) else 0} positions; a ring needs at "
                    "least 4 (three corners and the first repeated to close it)"
                )
            for i, pos in enumerate(ring):
                _check_position(p, r, i, pos)
            if list(ring[0]) != list(ring[-1]):
                raise GeometryError(
                    f"polygon {p} ring {r} is not closed: its last position {ring[-1]} must repeat the first {ring[0]}"
                )


def geojson_geometries(gj: dict[str, Any]) -> list[Any]:
    """The geometry dicts of a GeoJSON geometry, Feature or FeatureCollection (a Feature without one gives None)."""
    if gj.get("type") == "FeatureCollection":
        return [f.get("geometry") if isinstance(f, dict) else f for f in gj.get("features") or []]
    return [gj.get("geometry")] if gj.get("type") == "Feature" else [gj]


def lonlat_bounds_problem(geom: BaseGeometry) -> str | None:
    """What is wrong with a geometry said to be in EPSG:4326 whose coordinates lie outside longitude -180..180 /
    latitude -90..90 (None when they lie inside)."""
    minx, miny, maxx, maxy = geom.bounds
    if -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90:
        return None
    return (f"coordinates {tuple(round(b, 3) for b in geom.bounds)} are outside longitude -180..180 / latitude -90..90: "
            "the file is probably in a projected CRS (metres) or has latitude and longitude swapped; give positions "
            "as [longitude, latitude] in EPSG:4326 or import the file with its CRS")


def validate_boundary(geom: BaseGeometry | dict[str, Any] | None,
                      max_vertices: int = MAX_BOUNDARY_VERTICES) -> Polygon | MultiPolygon:
    """Validate a growing-area boundary given in EPSG:4326 (lon, lat degrees).

    Accepts a GeoJSON geometry dict or a shapely geometry. Raises GeometryError with a fix-it message.
    """
    if geom is None:  # a Feature whose geometry is null
        raise GeometryError("the boundary feature has no geometry (it is null): draw the field's outline, or export "
                            "the layer again with its polygons")
    return _valid_boundary(geom, max_vertices)


def _valid_boundary(geom: BaseGeometry | dict[str, Any], max_vertices: int) -> Polygon | MultiPolygon:
    if isinstance(geom, dict):
        _check_rings_closed(geom, max_vertices)
        try:
            geom = shape(geom)
        except Exception as exc:  # noqa: BLE001 - shapely raises several types for malformed input
            raise GeometryError(f"boundary is not a valid GeoJSON geometry: {reason(exc)}") from exc
    if not isinstance(geom, (Polygon, MultiPolygon)):
        raise GeometryError(f"boundary must be a Polygon or MultiPolygon, got {geom.geom_type}")
    if geom.is_empty:
        raise GeometryError("boundary is empty")
    if shapely.get_num_coordinates(geom) > max_vertices:
        raise TooLarge(f"the boundary has more than {max_vertices} positions; simplify it and upload again")
    if geom.has_z:
        geom = shapely.force_2d(geom)
    minx, miny, maxx, maxy = geom.bounds
    if (problem := lonlat_bounds_problem(geom)) is not None:
        raise GeometryError(f"boundary {problem}")
    if not geom.is_valid:
        raise GeometryError(
            f"boundary is not a valid polygon ({explain_validity(geom)}); fix self-intersections, e.g. in QGIS with "
            "'Fix geometries', and upload again"
        )
    if maxx - minx > 180 and maxy - miny <= 1.0:
        raise GeometryError(
            "the boundary crosses the antimeridian (longitude 180), which is not supported: split it there into two "
            "areas, or give it in a local projected CRS"
        )
    if (maxx - minx) > 1.0 or (maxy - miny) > 1.0:
        raise GeometryError(
            f"boundary spans {maxx - minx:.3f} x {maxy - miny:.3f} degrees (over 100 km): a growing area is a field "
            "or a group of fields; check the coordinates"
        )
    return geom


def to_geojson(geom: BaseGeometry) -> dict[str, Any]:
    """GeoJSON geometry dict (coordinates as lists) of a shapely geometry."""
    return _lists(mapping(geom))


def _lists(obj: Any) -> Any:
    if isinstance(obj, (list, tuple)):
        return [_lists(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _lists(v) for k, v in obj.items()}
    return obj


def to_wgs84_valid(geom: BaseGeometry, src_crs: str) -> BaseGeometry:
    """Reproject a polygonal geometry to EPSG:4326 for export: repaired where reprojection made it invalid (slivers,
    self-touching rings), only its polygonal parts kept, outer rings counter-clockwise (RFC 7946)."""
    g = reproject(geom, src_crs, "EPSG:4326")
    if not g.is_valid:
        g = shapely.make_valid(g)
    parts = [_without_tiny_holes(p) for p in _polygons(g) if p.area > TINY_DEG2]
    if not parts:
        return Polygon()
    return oriented(parts[0] if len(parts) == 1 else MultiPolygon(parts))


def oriented(geom: Polygon | MultiPolygon) -> Polygon | MultiPolygon:
    """The polygon(s) with outer rings counter-clockwise and holes clockwise, as RFC 7946 asks."""
    from shapely.geometry.polygon import orient

    if isinstance(geom, Polygon):
        return orient(geom, 1.0)
    return MultiPolygon([orient(p, 1.0) for p in geom.geoms])


# Polygons and holes under this many square degrees (about 0.12 m2 at the equator, less further out) are left out of
# exports: reprojection and the 7 decimals of KML turn such slivers into rings of too few points
TINY_DEG2 = 1e-11


def _polygons(g: BaseGeometry) -> list[Any]:
    """The polygons of a geometry, at any depth: make_valid answers a GeometryCollection of a MultiPolygon and lines
    for a ring that touches itself, whose MultiPolygon was lost (a 0.44 ha zone exported with no coordinates)."""
    if g.is_empty:
        return []
    if isinstance(g, Polygon):
        return [g]
    return [p for part in getattr(g, "geoms", []) for p in _polygons(part)]


def _without_tiny_holes(p: Polygon) -> Polygon:
    holes = [r for r in p.interiors if Polygon(r).area > TINY_DEG2]
    return p if len(holes) == len(p.interiors) else Polygon(p.exterior, holes)
