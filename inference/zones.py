"""Spray zones from a damage map: a grid of swath-sized cells along the field's main direction, a rate per cell,
smoothing, merging, a minimum zone area, a buffer around treated areas, exclusions with their own buffers, and the
plan's summary (treated area, volume, saving, flight time and tank loads).

Every distance and area is computed in the field's UTM zone; zones are reported in UTM and in EPSG:4326.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rasterio
import rasterio.errors
import shapely
from pydantic import BaseModel, ConfigDict, Field, model_validator
from rasterio.windows import Window, from_bounds
from shapely import affinity
from shapely.geometry import Polygon, box, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from inference.errors import BadInput, Unsupported, reason
from inference.geo import (
    geojson_geometries,
    lonlat_bounds_problem,
    reproject,
    to_wgs84_valid,
    utm_epsg_for,
    validate_boundary,
)
from inference.results import DAMAGED_THRESHOLD, SprayPlanSummary

# Default buffers (m) around exclusions: drift must not reach water (aquatic life), homes and people, roads; power
# lines are a flight hazard. Agronomists change them per layer.
DEFAULT_EXCLUSION_BUFFER_M = {"water": 10.0, "building": 20.0, "road": 5.0, "power_line": 15.0, "other": 5.0}


class DroneProfile(BaseModel):
    """A spray drone: rate reachable = 600 x flow (L/min) / (speed (km/h) x swath (m)) in L/ha."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str = "DJI Agras T40"
    swath_m: float = Field(default=7.0, gt=0)
    flow_l_per_min: float = Field(default=12.0, gt=0)
    speed_km_h: float = Field(default=21.6, gt=0)  # 6 m/s
    tank_l: float = Field(default=40.0, gt=0)

    def max_rate_l_per_ha(self) -> float:
        return 600.0 * self.flow_l_per_min / (self.speed_km_h * self.swath_m)


class ExclusionLayer(BaseModel):
    """Areas never to be sprayed (GeoJSON FeatureCollection or geometry in EPSG:4326) with their buffer."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str
    kind: Literal["water", "building", "road", "power_line", "other"] = "other"
    buffer_m: float | None = Field(default=None, ge=0, description="default by kind")
    geojson: dict[str, Any]

    def buffer(self) -> float:
        return self.buffer_m if self.buffer_m is not None else DEFAULT_EXCLUSION_BUFFER_M[self.kind]


class SprayPlanConfig(BaseModel):
    """All parameters of a spray plan; stored with every spray map so that it can be reproduced."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    swath_m: float = Field(default=7.0, gt=0, description="spray swath of the drone, m")
    cell_size_m: float | None = Field(default=None, gt=0, description="grid cell, m (default: the swath)")
    heading_deg: float | None = Field(default=None, description="grid direction, degrees from east counter-clockwise "
                                      "(default: the field's main direction)")
    rate_mode: Literal["classes", "continuous"] = "classes"
    rate_l_per_ha: float = Field(default=20.0, gt=0, description="full rate, L/ha")
    spot_rate_l_per_ha: float | None = Field(default=None, gt=0, description="spot rate (default: half the full rate)")
    min_rate_l_per_ha: float = Field(default=10.0, gt=0, description="continuous mode: rate at the spot threshold")
    max_rate_l_per_ha: float | None = Field(default=None, gt=0, description="continuous mode (default: full rate)")
    spot_threshold: float = Field(default=0.05, ge=0, le=1, description="damaged share of a cell from which to spray")
    full_threshold: float = Field(default=0.25, ge=0, le=1, description="damaged share for the full rate")
    damage_threshold_pct: float = Field(default=100 * DAMAGED_THRESHOLD, ge=0, le=100,
                                        description="a pixel is damaged from this probability")
    smoothing: bool = Field(default=True, description="3x3 majority of cell classes that only raises a cell: fills "
                            "gaps between treated cells, never drops a damaged one")
    min_zone_area_m2: float = Field(default=50.0, ge=0)
    buffer_m: float = Field(default=2.0, ge=0, description="margin sprayed around treated zones, m")
    exclusions: list[ExclusionLayer] = Field(default_factory=list)
    drone: DroneProfile | None = None
    product: str | None = Field(default=None, description="product name, for the manifest and the log")
    product_dose_per_ha: float | None = Field(
        default=None, gt=0, description="the product's dose per ha from its label, at the full spray volume "
        "(rate_l_per_ha of mix); the tank mix is made at that concentration")
    product_dose_unit: Literal["L", "mL", "kg", "g"] = Field(default="L", description="unit of the product dose")

    @model_validator(mode="after")
    def _check(self) -> SprayPlanConfig:
        if self.full_threshold < self.spot_threshold:
            raise ValueError("full_threshold must be at least spot_threshold")
        return self

    @property
    def cell_m(self) -> float:
        return self.cell_size_m or self.swath_m

    @property
    def spot_rate(self) -> float:
        return self.spot_rate_l_per_ha or self.rate_l_per_ha / 2

    @property
    def max_rate(self) -> float:
        return self.max_rate_l_per_ha or self.rate_l_per_ha


@dataclass
class Zone:
    zone_id: int
    rate_l_per_ha: float
    rate_class: str  # none | spot | full | continuous
    geometry_utm: BaseGeometry
    damaged_fraction: float

    @property
    def area_m2(self) -> float:
        return float(self.geometry_utm.area)

    def properties(self) -> dict[str, Any]:
        """The attributes every export carries (GeoJSON, Shapefile, KML, GeoPackage, the DJI zones)."""
        return {"zone_id": self.zone_id, "rate": round(self.rate_l_per_ha, 3), "unit": "L/ha",
                "rate_class": self.rate_class, "area_ha": round(self.area_m2 / 1e4, 6),
                "damaged_fraction": round(self.damaged_fraction, 4)}


@dataclass
class SprayPlan:
    config: SprayPlanConfig
    utm_epsg: int
    boundary_utm: BaseGeometry
    available_utm: BaseGeometry  # boundary minus buffered exclusions
    exclusions_utm: BaseGeometry
    zones: list[Zone]
    heading_deg: float
    summary: SprayPlanSummary | None = None

    def to_geojson(self) -> dict[str, Any]:
        """The zones (EPSG:4326) plus, as a foreign member "cropwatch", what is needed to export or reproduce the plan:
        the field boundary, the buffered exclusions, the config and the summary."""
        fc = self.zones_geojson()
        to4326 = lambda g: mapping(to_wgs84_valid(g, f"EPSG:{self.utm_epsg}"))  # noqa: E731  outer rings CCW
        fc["cropwatch"] = {
            "schema_version": "1.0", "utm_epsg": self.utm_epsg, "heading_deg": self.heading_deg,
            "boundary": to4326(self.boundary_utm),
            "exclusions": to4326(self.exclusions_utm) if not self.exclusions_utm.is_empty else None,
            "config": self.config.model_dump(mode="json"),
            "summary": self.summary.model_dump(mode="json") if self.summary else None,
        }
        return fc

    def zones_geojson(self, crs: str = "EPSG:4326") -> dict[str, Any]:
        """FeatureCollection of all zones (rate 0 included) in EPSG:4326 (RFC 7946) or the UTM CRS."""
        feats = []
        for z in self.zones:
            g = z.geometry_utm if crs != "EPSG:4326" else to_wgs84_valid(z.geometry_utm, f"EPSG:{self.utm_epsg}")
            feats.append({"type": "Feature", "id": z.zone_id, "geometry": mapping(g), "properties": z.properties()})
        fc: dict[str, Any] = {"type": "FeatureCollection", "features": feats}
        if crs != "EPSG:4326":
            fc["crs"] = {"type": "name", "properties": {"name": crs}}
        return fc


def main_direction_deg(poly: BaseGeometry) -> float:
    """Angle (degrees from the x axis) of the longest side of the minimum rotated rectangle: the field's direction."""
    rect = poly.minimum_rotated_rectangle
    xs, ys = rect.exterior.coords.xy
    edges = [(xs[i + 1] - xs[i], ys[i + 1] - ys[i]) for i in range(4)]
    dx, dy = max(edges, key=lambda e: math.hypot(*e))
    return math.degrees(math.atan2(dy, dx)) % 180.0


def _layer_parts(layer: ExclusionLayer, epsg: int) -> list[BaseGeometry]:
    """One exclusion layer's features in UTM, each buffered by the layer's buffer (BadInput for a null, invalid,
    projected or widthless feature)."""
    parts = []
    for i, g in enumerate(geojson_geometries(layer.geojson)):
        if g is None:
            raise BadInput(f"exclusion {layer.name!r} feature {i} has no geometry (it is null): draw it, or remove "
                           "it from the file", reason="plan_exclusion_invalid")
        try:
            geom = shape(g)
        except Exception as exc:  # noqa: BLE001
            raise BadInput(f"exclusion {layer.name!r} feature {i} is not valid GeoJSON: {reason(exc)}",
                           reason="plan_exclusion_invalid") from exc
        if (problem := lonlat_bounds_problem(geom)) is not None:
            raise BadInput(f"exclusion {layer.name!r} feature {i}: {problem}", reason="plan_exclusion_invalid")
        if not geom.is_valid:
            raise BadInput(f"exclusion {layer.name!r} feature {i} is not a valid geometry "
                           f"({shapely.validation.explain_validity(geom)}); fix it in QGIS and upload again",
                           reason="plan_exclusion_invalid")
        u = reproject(geom, "EPSG:4326", f"EPSG:{epsg}")
        if layer.buffer() <= 0 and u.geom_type not in ("Polygon", "MultiPolygon"):
            # a line or a point has no width: with no buffer it excluded nothing, silently (a power line)
            raise BadInput(f"exclusion {layer.name!r} feature {i} is a {u.geom_type} with no buffer: it would "
                           "exclude nothing; give it buffer_m above 0 (its width on the ground and the distance "
                           "to keep, e.g. 5 m for a power line) or draw it as a polygon",
                           reason="plan_exclusion_without_width")
        parts.append(u.buffer(layer.buffer()) if layer.buffer() > 0 else u)
    return parts


def _exclusions_utm(layers: list[ExclusionLayer], epsg: int) -> BaseGeometry:
    parts = [p for layer in layers for p in _layer_parts(layer, epsg)]
    return unary_union(parts) if parts else Polygon()


@dataclass(frozen=True)
class NamedExclusion:
    """One no-spray area of a plan, for the exports: an exclusion layer of its config with its buffer, or the part of
    the field left out for want of imagery (kind "no_imagery")."""

    name: str
    kind: str
    buffer_m: float
    geometry_utm: BaseGeometry


def named_exclusions(plan: SprayPlan) -> list[NamedExclusion]:
    """The plan's no-spray areas one by one (their union is plan.exclusions_utm): each exclusion layer, buffered, then
    the field left out for want of imagery when the plan has some (its summary's no_imagery_area_ha). A layer under
    SLIVER_M2 is left out (an export would hold an empty geometry for it). A plan stored before a layer's checks were
    added (a point with no buffer, swapped coordinates: refused since) is exported as before, one area named
    "buffered exclusions", rather than refused. A plan rebuilt from its GeoJSON has its config's layers."""
    if plan.exclusions_utm.is_empty:
        return []
    try:
        out = [NamedExclusion(layer.name, layer.kind, layer.buffer(), g) for layer in plan.config.exclusions
               if (g := unary_union(_layer_parts(layer, plan.utm_epsg))).area > SLIVER_M2]
    except BadInput:
        return [NamedExclusion("buffered exclusions", "other", 0.0, plan.exclusions_utm)]
    rest = plan.exclusions_utm.difference(unary_union([e.geometry_utm for e in out])) if out else plan.exclusions_utm
    if plan.summary is not None and plan.summary.no_imagery_area_ha and rest.area > SLIVER_M2:
        out.append(NamedExclusion("no imagery", "no_imagery", 0.0, rest))
    return out


CHUNK_PX = 1 << 20  # damage pixels sampled at a time: about 120 MB of coordinates, whatever the raster's size


def _field_window(ds: rasterio.io.DatasetReader, left: float, bottom: float, right: float,
                  top: float) -> Window | None:
    """The window of the raster holding the box (in the raster's CRS), or None when they do not overlap. North-up
    rasters: rasterio's from_bounds, offsets floored, lengths rounded up; any other orientation (south-up, rotated):
    the rows and columns of the box's four corners."""
    t = ds.transform
    full = Window(0, 0, ds.width, ds.height)
    if t.b == 0 and t.d == 0 and t.a > 0 and t.e < 0:
        rb = ds.bounds
        if right < rb.left or left > rb.right or top < rb.bottom or bottom > rb.top:
            return None
        win = from_bounds(max(left, rb.left), max(bottom, rb.bottom), min(right, rb.right), min(top, rb.top), t)
        return win.round_offsets().round_lengths().intersection(full)
    inv = ~t
    cols, rows = zip(*(inv * (x, y) for x in (left, right) for y in (bottom, top)), strict=True)
    c0, c1 = max(0, math.floor(min(cols))), min(ds.width, math.ceil(max(cols)))
    r0, r1 = max(0, math.floor(min(rows))), min(ds.height, math.ceil(max(rows)))
    return Window(c0, r0, c1 - c0, r1 - r0) if c1 > c0 and r1 > r0 else None


def _check_damage_map(ds: rasterio.io.DatasetReader) -> float:
    """BadInput unless `ds` can be a damage map: one band with a CRS, and not one of an analysis's other maps (its
    CROPWATCH_LAYER tag, or, untagged, its file name: canopy.tif, growth.tif). Returns its nodata value (255 when it
    declares none). The orthomosaic given instead was planned as damage (100 % of the field treated) and the canopy
    map as none, without a word; values beyond 0-100 are refused where they are read (_cell_damage)."""
    name = Path(ds.name).name
    layer = ds.tags().get("CROPWATCH_LAYER") or {"canopy.tif": "canopy", "growth.tif": "growth"}.get(name.lower())
    if layer not in (None, "damage"):
        raise BadInput(f"{name} is the {layer} map of an analysis, not its damage map: give the damage.tif beside it",
                       reason="plan_not_a_damage_map")
    if ds.count != 1:
        raise BadInput(f"{name} has {ds.count} bands: a damage map has one band of 0-100 % (nodata 255); give the "
                       "damage.tif that `cropwatch drone analyze` wrote, not the orthomosaic",
                       reason="plan_not_a_damage_map")
    if ds.crs is None:
        raise BadInput("the damage raster has no CRS")
    return float(ds.nodata) if ds.nodata is not None else 255.0


def _cell_damage(
    damage_tif: str, boundary_utm: BaseGeometry, epsg: int, origin: tuple[float, float], heading: float,
    cell: float, nx: int, ny: int, threshold_pct: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per grid cell: (damaged pixel count, valid pixel count), sampling the damage raster's pixel centres inside the
    field's bounding box (only that window is read), CHUNK_PX pixels at a time so that memory does not grow with the
    raster (a 26 MP field window took 3.2 GB at once)."""
    from pyproj import Transformer

    damaged = np.zeros(nx * ny, np.float64)
    valid = np.zeros(nx * ny, np.int64)
    th = math.radians(heading)
    with rasterio.open(damage_tif) as ds:
        nodata = _check_damage_map(ds)
        crs = ds.crs.to_string()
        win = _field_window(ds, *reproject(boundary_utm, f"EPSG:{epsg}", crs).bounds)
        if win is None:
            raise BadInput("the field boundary does not overlap the damage raster; check the area or the flight",
                           reason="plan_outside_raster")
        t = Transformer.from_crs(crs, f"EPSG:{epsg}", always_xy=True)
        step = max(1, CHUNK_PX // max(int(win.width), 1))
        for r in range(0, int(win.height), step):
            sub = Window(win.col_off, win.row_off + r, win.width, min(step, int(win.height) - r))
            dmg = ds.read(1, window=sub)
            wt = ds.window_transform(sub)
            rows, cols = np.mgrid[0 : dmg.shape[0], 0 : dmg.shape[1]]
            xs = wt.c + (cols + 0.5) * wt.a + (rows + 0.5) * wt.b
            ys = wt.f + (cols + 0.5) * wt.d + (rows + 0.5) * wt.e
            ux, uy = t.transform(xs.ravel(), ys.ravel())
            # into the grid frame: rotate by -heading about the origin
            dx, dy = np.asarray(ux) - origin[0], np.asarray(uy) - origin[1]
            gx = dx * math.cos(th) + dy * math.sin(th)
            gy = -dx * math.sin(th) + dy * math.cos(th)
            i, j = np.floor(gx / cell).astype(np.int64), np.floor(gy / cell).astype(np.int64)
            v = dmg.ravel()
            ok = (i >= 0) & (i < nx) & (j >= 0) & (j < ny) & (v != nodata) & np.isfinite(v)
            vo = v[ok]
            if ((vo > 100) | (vo < 0)).any():
                raise BadInput(f"{Path(damage_tif).name} holds values outside 0-100 where the field lies: a damage map "
                               "gives a percentage (0-100, nodata 255); give the damage.tif that `cropwatch drone "
                               "analyze` wrote", reason="plan_not_a_damage_map")
            idx = j[ok] * nx + i[ok]
            valid += np.bincount(idx, minlength=nx * ny)
            damaged += np.bincount(idx, weights=(vo >= threshold_pct), minlength=nx * ny)
    return damaged.reshape(ny, nx), valid.reshape(ny, nx)


def _majority3(classes: np.ndarray, present: np.ndarray) -> np.ndarray:
    """3x3 majority filter of small integer classes over present cells that only ever raises a cell's class (ties
    keep the cell's own class): gaps between treated cells are filled, so the drone does not switch on and off, and a
    damaged cell is never lowered, so an isolated patch of damage (a pest hotspot one swath wide) is still sprayed.
    Until 2026-11-30 the filter also lowered cells, which erased every patch under about 2 x 2 cells."""
    ny, nx = classes.shape
    k = int(classes.max()) + 1 if classes.size else 1
    votes = np.zeros((k, ny, nx), np.int32)
    pad_c = np.pad(classes, 1)
    pad_p = np.pad(present, 1)
    for dy in range(3):
        for dx in range(3):
            c = pad_c[dy : dy + ny, dx : dx + nx]
            p = pad_p[dy : dy + ny, dx : dx + nx]
            for v in range(k):
                votes[v] += (c == v) & p
    best = votes.argmax(axis=0)
    own = np.take_along_axis(votes, classes[None], 0)[0]
    out = np.where((votes.max(axis=0) > own) & (best > classes), best, classes)
    return np.where(present, out, classes)


def _check_drone_reach(config: SprayPlanConfig) -> None:
    drone = config.drone
    if drone is None:
        return
    reach = drone.max_rate_l_per_ha()
    need = config.max_rate if config.rate_mode == "continuous" else config.rate_l_per_ha
    if need > reach + 1e-9:
        raise BadInput(
            f"{drone.name} cannot reach {need:g} L/ha: at {drone.flow_l_per_min:g} L/min, {drone.speed_km_h:g} km/h "
            f"and a {drone.swath_m:g} m swath it sprays at most {reach:.1f} L/ha (600 x flow / (speed x swath)); "
            "fly slower, narrow the swath or lower the rate", reason="plan_rate_unreachable"
        )


@dataclass(frozen=True)
class _Grid:
    """Swath cells laid along the field: cell (i, j) is box(minx + i*cell, miny + j*cell, ...) in the frame rotated
    by -heading about (cx, cy); `origin` is the frame's lower-left corner in UTM."""

    heading: float
    cell: float
    cx: float
    cy: float
    minx: float
    miny: float
    nx: int
    ny: int
    origin: tuple[float, float]

    def cell_poly(self, i: int, j: int) -> Polygon:
        p = box(self.minx + i * self.cell, self.miny + j * self.cell, self.minx + (i + 1) * self.cell,
                self.miny + (j + 1) * self.cell)
        return affinity.rotate(p, self.heading, origin=(self.cx, self.cy))


def _lay_grid(b_utm: BaseGeometry, config: SprayPlanConfig) -> _Grid:
    heading = config.heading_deg if config.heading_deg is not None else main_direction_deg(b_utm)
    cell = config.cell_m
    cx, cy = b_utm.centroid.x, b_utm.centroid.y
    minx, miny, maxx, maxy = affinity.rotate(b_utm, -heading, origin=(cx, cy)).bounds
    nx, ny = max(1, math.ceil((maxx - minx) / cell)), max(1, math.ceil((maxy - miny) / cell))
    if nx * ny > 2_000_000:
        raise BadInput(f"{nx * ny} cells of {cell:g} m: the cell size is too small for this field",
                       reason="plan_cells_too_small")
    th = math.radians(heading)
    origin = (cx + (minx - cx) * math.cos(th) - (miny - cy) * math.sin(th),
              cy + (minx - cx) * math.sin(th) + (miny - cy) * math.cos(th))
    return _Grid(heading, cell, cx, cy, minx, miny, nx, ny, origin)


def _cell_rates(frac: np.ndarray, present: np.ndarray, config: SprayPlanConfig) -> tuple[np.ndarray, np.ndarray]:
    """Rate (L/ha) and rate-class name per cell from its damaged share: classes none/spot/full (smoothed), or a
    continuous rate between the spot and full thresholds, rounded to 1 L/ha so that neighbours merge."""
    classes = np.zeros(frac.shape, np.int64)  # 0 none, 1 spot, 2 full
    classes[frac >= config.spot_threshold] = 1
    classes[frac >= config.full_threshold] = 2
    if config.smoothing:
        classes = _majority3(classes, present)
    if config.rate_mode == "classes":
        return np.choose(classes, [0.0, config.spot_rate, config.rate_l_per_ha]), np.choose(classes,
                                                                                            ["none", "spot", "full"])
    span = max(config.full_threshold - config.spot_threshold, 1e-9)
    cont = config.min_rate_l_per_ha + (config.max_rate - config.min_rate_l_per_ha) * np.clip(
        (frac - config.spot_threshold) / span, 0, 1)
    rates = np.where(classes > 0, np.round(cont), 0.0)
    return rates, np.where(classes > 0, "continuous", "none")


def _rate_pieces(by_rate: dict[float, list[Polygon]], available: BaseGeometry,
                 buffer_m: float) -> list[tuple[float, BaseGeometry]]:
    """Treated rates from the highest down: each grows by the buffer, never into a higher rate or an exclusion;
    what is left of the sprayable field is the untreated piece (rate 0)."""
    assigned = Polygon()
    pieces: list[tuple[float, BaseGeometry]] = []
    for r in sorted((r for r in by_rate if r > 0), reverse=True):
        g = unary_union(by_rate[r])
        if buffer_m > 0:
            g = g.buffer(buffer_m, join_style="mitre")
        g = _without_slivers(g.intersection(available).difference(assigned))
        if not g.is_empty:
            pieces.append((r, g))
            assigned = unary_union([assigned, g])
    rest = _without_slivers(available.difference(assigned))
    if not rest.is_empty:
        pieces.append((0.0, rest))
    return pieces


SLIVER_M = 0.1
NO_IMAGERY_MIN_SHARE = 0.02  # of the sprayable field: less without imagery is cells grazing its edge, not a gap


def _without_slivers(g: BaseGeometry) -> BaseGeometry:
    """`g` less its parts narrower than SLIVER_M (a morphological opening, mitred so rectangles keep their corners).
    A buffered rate cut by a higher one leaves slivers a few millimetres wide that collapse into invalid rings at the
    7 decimals of a KML file; nothing narrower than 10 cm is flown."""
    if g.is_empty:
        return g
    opened = g.buffer(-SLIVER_M / 2, join_style="mitre").buffer(SLIVER_M / 2, join_style="mitre")
    return opened.intersection(g) if not opened.is_empty else opened


def _zone_damage(zones: list[Zone], cells: list[Polygon], frac: np.ndarray, weight: np.ndarray) -> None:
    """Each zone's own damaged fraction: the mean of the cells it covers, weighted by valid pixels x overlap."""
    tree = shapely.STRtree(cells)
    for z in zones:
        idx = tree.query(z.geometry_utm, predicate="intersects")
        if len(idx) == 0:
            continue
        overlap = shapely.area(shapely.intersection(np.asarray(cells, dtype=object)[idx], z.geometry_utm))
        w = weight[idx] * overlap
        z.damaged_fraction = float((frac[idx] * w).sum() / w.sum()) if w.sum() > 0 else 0.0


def _unsprayed(cells: np.ndarray, field: BaseGeometry, available: BaseGeometry,
               zones: list[Zone]) -> tuple[int, int]:
    """(damaged cells in the field, those the plan leaves unsprayed), of the damaged cells' polygons `cells`: a cell
    counts when it reaches into the field (the grid covers the field's bounding box), and is unsprayed when less than
    half of its sprayable part is in a treated zone, or it has no sprayable part (an exclusion). Pairs found by an
    STRtree, so a large field costs the cells' own intersections, not one with the union of every zone."""
    if not len(cells):
        return 0, 0
    shapely.prepare(field)
    cells = cells[shapely.intersects(field, cells)]
    if not len(cells):
        return 0, 0
    shapely.prepare(available)
    whole = shapely.covers(available, cells)
    inside = shapely.area(cells)
    part = ~whole
    inside[part] = shapely.area(shapely.intersection(cells[part], available))
    treated = np.asarray([z.geometry_utm for z in zones if z.rate_l_per_ha > 0], dtype=object)
    sprayed = np.zeros(len(cells))
    if len(treated):
        ci, zi = shapely.STRtree(treated).query(cells, predicate="intersects")
        np.add.at(sprayed, ci, shapely.area(shapely.intersection(cells[ci], treated[zi])))
    return len(cells), int(((inside <= 1e-9) | (sprayed < 0.5 * inside)).sum())


# Pieces of the rate map under this area (m2) are no zone: no nozzle sprays a quarter of a square metre, and in
# EPSG:4326 such a sliver fell under geo.TINY_DEG2 and was exported with no geometry (3 of 1,349 zones of a 2 m grid
# turned 33 degrees: an empty polygon rated 40 L/ha, and KML holding 3 zones fewer than the summary)
SLIVER_M2 = 0.25


def _zones_from_pieces(pieces: list[tuple[float, BaseGeometry]], name_of: dict[float, str],
                       frac_by_rate: dict[float, list[tuple[float, float]]], min_zone_area_m2: float) -> list[Zone]:
    """One zone per polygon; treated slivers under the minimum area are merged into the untreated zone."""
    zones: list[Zone] = []
    small: list[BaseGeometry] = []
    for r, g in pieces:
        for part in getattr(g, "geoms", [g]):
            if part.geom_type != "Polygon" or part.area < SLIVER_M2:
                continue
            if r > 0 and part.area < min_zone_area_m2:
                small.append(part)  # too small to fly a pass over: left unsprayed
                continue
            fr = frac_by_rate.get(r, [(0.0, 1.0)])
            w = sum(v for _, v in fr)
            zones.append(Zone(0, r, name_of.get(r, "none") if r > 0 else "none", part,
                              sum(f * v for f, v in fr) / w if w else 0.0))
    if small:
        merged = unary_union([*(z.geometry_utm for z in zones if z.rate_l_per_ha == 0), *small])
        zones = [z for z in zones if z.rate_l_per_ha > 0]
        zones += [Zone(0, 0.0, "none", part, 0.0) for part in getattr(merged, "geoms", [merged])
                  if part.geom_type == "Polygon" and part.area >= SLIVER_M2]
    zones.sort(key=lambda z: (-z.rate_l_per_ha, -z.area_m2))
    for k, z in enumerate(zones, start=1):
        z.zone_id = k
    return zones


def plan_spray(damage_tif: str, boundary_wgs84: BaseGeometry | dict[str, Any], config: SprayPlanConfig) -> SprayPlan:
    """Make the spray zones of a field from its damage raster (uint8 0-100, nodata 255, any CRS).

    Steps: validate the field, check the drone can fly the rate, remove buffered exclusions, lay the swath grid,
    measure each cell's damaged share, rate the cells, group them into buffered zones, summarise.
    """
    try:
        boundary = validate_boundary(boundary_wgs84 if isinstance(boundary_wgs84, dict) else boundary_wgs84)
    except ValueError as exc:
        raise BadInput(f"field boundary: {reason(exc)}") from exc
    epsg = utm_epsg_for(boundary.centroid.x, boundary.centroid.y)
    b_utm = reproject(boundary, "EPSG:4326", f"EPSG:{epsg}")
    _check_drone_reach(config)
    excl = _exclusions_utm(config.exclusions, epsg)
    available = b_utm.difference(excl) if not excl.is_empty else b_utm
    if available.is_empty:
        raise BadInput("the exclusions and their buffers cover the whole field: nothing can be sprayed",
                       reason="plan_all_excluded")
    grid = _lay_grid(b_utm, config)
    damaged, valid = _cell_damage(damage_tif, b_utm, epsg, grid.origin, grid.heading, grid.cell, grid.nx, grid.ny,
                                  config.damage_threshold_pct)
    present = valid > 0
    if not present.any():
        raise BadInput("no valid damage pixels inside the field: the damage raster does not cover it",
                       reason="plan_no_damage_pixels")
    frac = np.where(present, damaged / np.maximum(valid, 1), 0.0)
    rates, names = _cell_rates(frac, present, config)
    js, is_ = np.nonzero(present)
    cells = np.asarray([grid.cell_poly(int(i), int(j)) for j, i in zip(js, is_, strict=True)], dtype=object)
    no_imagery = _no_imagery(available, cells)
    if not no_imagery.is_empty:
        excl, available = unary_union([excl, no_imagery]), available.difference(no_imagery)
    by_rate: dict[float, list[Polygon]] = {}
    frac_by_rate: dict[float, list[tuple[float, float]]] = {}
    for cell, j, i in zip(cells, js, is_, strict=True):
        r = float(rates[j, i])
        by_rate.setdefault(r, []).append(cell)
        frac_by_rate.setdefault(r, []).append((float(frac[j, i]), float(valid[j, i])))
    name_of = {float(rates[j, i]): str(names[j, i]) for j, i in zip(js, is_, strict=True)}
    pieces = _rate_pieces(by_rate, available, config.buffer_m)
    zones = _zones_from_pieces(pieces, name_of, frac_by_rate, config.min_zone_area_m2)
    _zone_damage(zones, list(cells), frac[js, is_].astype(float), valid[js, is_].astype(float))
    plan = SprayPlan(config, epsg, b_utm, available, excl, zones, grid.heading)
    summary = summarise(plan)
    # damage the plan does not spray (too small a zone, an exclusion): said, so an empty plan is never silent
    damaged_cells = cells[frac[js, is_] >= config.spot_threshold]
    summary.damaged_cells, left = _unsprayed(damaged_cells, b_utm, available, zones)
    summary.damaged_cells_not_sprayed = left
    if left:
        summary.warnings.append(
            f"{left} of {summary.damaged_cells} cells with damage above the spot threshold are not sprayed (in a "
            f"no-spray area or a zone under the minimum of {config.min_zone_area_m2:g} m2): lower min_zone_area_m2 or "
            "check the exclusions to spray them")
    if not no_imagery.is_empty:
        summary.no_imagery_area_ha = round(no_imagery.area / 1e4, 4)
        summary.warnings.insert(0, f"{no_imagery.area / 1e4:.2f} ha ({100 * no_imagery.area / b_utm.area:.1f} % of "
                                "the field) has no imagery in the damage raster: it is left out of the plan like an "
                                "exclusion, and the saving is against spraying the rest; fly it again to plan it")
    plan.summary = summary
    return plan


def _no_imagery(available: BaseGeometry, cells: np.ndarray) -> BaseGeometry:
    """The sprayable field beyond every cell with a valid damage pixel: left out of the plan like an exclusion, never
    rated 0 L/ha (a flight over a strip of the field gave a plan spraying nothing on all of it, and a 100 % saving).
    Empty when it is under NO_IMAGERY_MIN_SHARE of the field: cells that graze its edge by less than a pixel."""
    gap = _without_slivers(available.difference(unary_union(list(cells))))
    return gap if gap.area > NO_IMAGERY_MIN_SHARE * available.area else Polygon()


def summarise(plan: SprayPlan) -> SprayPlanSummary:
    cfg = plan.config
    treated = [z for z in plan.zones if z.rate_l_per_ha > 0]
    treated_m2 = sum(z.area_m2 for z in treated)
    volume = sum(z.rate_l_per_ha * z.area_m2 / 1e4 for z in treated)
    field_m2 = plan.available_utm.area
    full_rate = cfg.rate_l_per_ha if cfg.rate_mode == "classes" else cfg.max_rate
    blanket = full_rate * field_m2 / 1e4
    s: dict[str, Any] = {
        "field_area_ha": round(plan.boundary_utm.area / 1e4, 4),
        "sprayable_area_ha": round(field_m2 / 1e4, 4),
        "excluded_area_ha": round((plan.boundary_utm.area - field_m2) / 1e4, 4),
        "treated_area_ha": round(treated_m2 / 1e4, 4),
        "treated_pct": round(100 * treated_m2 / field_m2, 2) if field_m2 else 0.0,
        "product_volume_l": round(volume, 2),  # litres of spray mix (the key's name predates product_quantity)
        "spray_volume_l": round(volume, 2),
        "blanket_volume_l": round(blanket, 2),
        "saving_pct": round(100 * (1 - volume / blanket), 2) if blanket else 0.0,
        "zones": len(plan.zones), "treated_zones": len(treated),
        "heading_deg": round(plan.heading_deg, 2), "cell_size_m": cfg.cell_m, "utm_epsg": plan.utm_epsg,
        "rate_unit": "L/ha", "product": cfg.product,
    }
    tank = cfg.drone.tank_l if cfg.drone is not None else None
    if cfg.product_dose_per_ha is not None:
        per_l = cfg.product_dose_per_ha / full_rate  # product per litre of mix
        s["product_quantity"] = {"unit": cfg.product_dose_unit, "dose_per_ha": cfg.product_dose_per_ha,
                                 "per_litre_of_mix": round(per_l, 6), "per_field": round(per_l * volume, 3),
                                 "per_tank": round(per_l * tank, 3) if tank else None,
                                 "blanket_per_field": round(per_l * blanket, 3)}
    if cfg.drone is not None:
        d = cfg.drone
        speed_m_s = d.speed_km_h / 3.6
        flight_s = treated_m2 / (d.swath_m * speed_m_s)  # straight passes; turns and ferrying not included
        s["drone"] = {"name": d.name, "max_rate_l_per_ha": round(d.max_rate_l_per_ha(), 2),
                      "flight_time_min": round(flight_s / 60, 1),
                      "tank_loads": math.ceil(volume / d.tank_l) if volume else 0}
    return SprayPlanSummary.model_validate(s)


def plan_from_geojson(fc: dict[str, Any]) -> SprayPlan:
    """Rebuild a plan from `SprayPlan.to_geojson()` output (e.g. a ZONES.geojson written by `cropwatch spray plan`)."""
    meta = fc.get("cropwatch")
    if not meta:
        raise BadInput("this GeoJSON was not written by cropwatch spray plan: it has no 'cropwatch' member with the "
                        "field boundary and the plan's config")
    epsg = int(meta["utm_epsg"])
    to_utm = lambda g: reproject(shape(g), "EPSG:4326", f"EPSG:{epsg}")  # noqa: E731
    boundary = to_utm(meta["boundary"])
    excl = to_utm(meta["exclusions"]) if meta.get("exclusions") else Polygon()
    zones = [Zone(int(f["properties"]["zone_id"]), float(f["properties"]["rate"]), f["properties"]["rate_class"],
                  to_utm(f["geometry"]), float(f["properties"].get("damaged_fraction", 0))) for f in fc["features"]]
    config = SprayPlanConfig.model_validate(meta["config"])
    available = boundary.difference(excl) if not excl.is_empty else boundary
    plan = SprayPlan(config, epsg, boundary, available, excl, zones, float(meta["heading_deg"]))
    plan.summary = summarise(plan)
    stored = meta.get("summary") or {}  # what only the damage raster could tell: the damaged cells left unsprayed
    for k in ("damaged_cells", "damaged_cells_not_sprayed", "no_imagery_area_ha", "warnings"):
        if stored.get(k) is not None:
            setattr(plan.summary, k, stored[k])
    return plan


def validate_damage_raster(path: str | Path) -> None:
    """A damage raster must be a GeoTIFF with a CRS and one band of uint8 (probability 0-100, nodata 255)."""
    with open(path, "rb") as fh:
        if fh.read(4) not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            raise Unsupported("the damage raster is not a GeoTIFF")
    try:
        with rasterio.open(path) as ds:
            crs, count, dtype = ds.crs, ds.count, ds.dtypes[0]
    except rasterio.errors.RasterioIOError as exc:
        raise BadInput(f"the damage raster cannot be read ({reason(exc)}); upload the GeoTIFF again") from exc
    if crs is None:
        raise BadInput("the damage raster has no CRS; export it with its georeference")
    if count != 1 or dtype != "uint8":
        raise BadInput("the damage raster must be one band of uint8 (probability 0-100, nodata 255)")
