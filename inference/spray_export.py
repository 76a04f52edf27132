"""Spray-map exports that GDAL, QGIS, DJI's tools and ISOBUS terminals import: GeoJSON (RFC 7946), zipped ESRI
Shapefile, KML/KMZ, GeoPackage, a DJI Agras prescription package, and ISOXML TASKDATA (ISO 11783-10 v4.3).

Every export is written to a temporary name and moved into place when complete.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import rasterio
import shapely
from rasterio.features import rasterize
from rasterio.transform import from_origin

from inference.errors import BadInput, TooLarge
from inference.geo import reproject, to_wgs84_valid
from inference.kml import plan_kml
from inference.vectors import write_features
from inference.zones import NamedExclusion, SprayPlan, named_exclusions

FIELDS = ["zone_id", "rate", "unit", "rate_class", "area_ha", "damaged_fraction"]
DDI_VOLUME_PER_AREA = "0001"  # Setpoint Volume Per Area Application Rate, mm3/m2 (1 L/ha = 100 mm3/m2)


def _atomic(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest.with_name(f".{dest.stem}.part{dest.suffix}")  # keeps the extension GDAL drivers check


def _zones_4326(plan: SprayPlan) -> tuple[list[Any], list[dict[str, Any]]]:
    geoms, props = [], []
    for z in plan.zones:
        geoms.append(to_wgs84_valid(z.geometry_utm, f"EPSG:{plan.utm_epsg}"))
        props.append(z.properties())
    return geoms, props


def _write_vector(path: Path, driver: str, geoms: list[Any], props: list[dict[str, Any]], layer: str,
                  append: bool = False, **kw: Any) -> None:
    fields = FIELDS
    if driver == "ESRI Shapefile":  # dBASE names hold 10 characters: say the name GDAL would launder it to
        fields, props = [f[:10] for f in FIELDS], [{k[:10]: v for k, v in p.items()} for p in props]
    write_features(path, driver, geoms, props, layer, fields=fields, append=append, **kw)


def export_geojson(plan: SprayPlan, dest: Path) -> Path:
    tmp = _atomic(dest)
    tmp.write_text(json.dumps(plan.zones_geojson("EPSG:4326")))
    os.replace(tmp, dest)
    return dest


def shapefile_files(plan: SprayPlan, folder: Path, name: str) -> list[Path]:
    """The zones as a Shapefile's files (.shp, .shx, .dbf, .prj, .cpg) named `name`.* in `folder`."""
    geoms, props = _zones_4326(plan)
    shp = folder / f"{name}.shp"
    _write_vector(shp, "ESRI Shapefile", geoms, props, name, encoding="UTF-8")
    return sorted(folder.glob(f"{name}.*"))


def export_shp(plan: SprayPlan, dest: Path, name: str = "spray_zones") -> Path:
    tmp = _atomic(dest)
    with tempfile.TemporaryDirectory() as d, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in shapefile_files(plan, Path(d), name):
            zf.write(f, f.name)
    os.replace(tmp, dest)
    return dest


def export_kml(plan: SprayPlan, dest: Path, name: str = "spray_zones") -> Path:
    tmp = _atomic(dest)
    tmp.write_text(plan_kml(plan, name))
    os.replace(tmp, dest)
    return dest


def export_kmz(plan: SprayPlan, dest: Path, name: str = "spray_zones") -> Path:
    tmp = _atomic(dest)
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("doc.kml", plan_kml(plan, name, typed=False))
    os.replace(tmp, dest)
    return dest


def export_gpkg(plan: SprayPlan, dest: Path) -> Path:
    """GeoPackage with layers spray_zones, field_boundary and exclusions (EPSG:4326)."""
    tmp = _atomic(dest)
    tmp.unlink(missing_ok=True)
    geoms, props = _zones_4326(plan)
    _write_vector(tmp, "GPKG", geoms, props, "spray_zones", VERSION="1.2")  # 1.4 warns in GDAL 3.6 / QGIS 3.22
    b = to_wgs84_valid(plan.boundary_utm, f"EPSG:{plan.utm_epsg}")  # outer rings CCW, holes CW
    _write_vector(tmp, "GPKG", [b], [{"name": "field", "area_ha": round(plan.boundary_utm.area / 1e4, 6)}],
                  "field_boundary", append=True)
    # the exclusions layer is always there, of one type (MultiPolygon; name, kind, buffer_m), empty without
    # exclusions, so a tool's import finds the layers it expects; one feature per no-spray area, by its name
    e, ep = [], []
    for x, g in _exclusions_4326(plan):
        e.append(shapely.MultiPolygon([p for p in getattr(g, "geoms", [g]) if p.geom_type == "Polygon"]))
        ep.append({"name": x.name, "kind": x.kind, "buffer_m": x.buffer_m})
    write_features(tmp, "GPKG", e, ep, "exclusions", fields=["name", "kind", "buffer_m"], append=True,
                   geometry_type="MultiPolygon", numeric=frozenset({"buffer_m"}))
    os.replace(tmp, dest)
    return dest


def rate_grid(plan: SprayPlan, cell_m: float | None = None) -> tuple[np.ndarray, Any, float, float]:
    """The rate map rasterised in EPSG:4326: (rates float32 (rows, cols), transform, lat step, lon step).

    Cells are cell_m (default: a quarter of the plan's cell, at least 0.5 m) converted to degrees at the field's
    latitude; -1 outside the field, 0 where nothing is sprayed."""
    cell_m = cell_m or max(0.5, plan.config.cell_m / 4)
    b = reproject(plan.boundary_utm, f"EPSG:{plan.utm_epsg}", "EPSG:4326")
    minx, miny, maxx, maxy = b.bounds
    lat = (miny + maxy) / 2
    dlat = round(cell_m / 111_320.0, 9)
    dlon = round(cell_m / (111_320.0 * math.cos(math.radians(lat))), 9)
    west, north = math.floor(minx / dlon) * dlon, math.ceil(maxy / dlat) * dlat
    cols, rows = math.ceil((maxx - west) / dlon), math.ceil((north - miny) / dlat)
    transform = from_origin(west, north, dlon, dlat)
    grid = rasterize([(b, 0.0)], out_shape=(rows, cols), transform=transform, fill=-1.0, dtype="float32")
    shapes = [(reproject(z.geometry_utm, f"EPSG:{plan.utm_epsg}", "EPSG:4326"), z.rate_l_per_ha)
              for z in sorted(plan.zones, key=lambda z: z.rate_l_per_ha) if z.rate_l_per_ha > 0]
    if shapes:
        rated = rasterize(shapes, out_shape=(rows, cols), transform=transform, fill=0.0, dtype="float32")
        grid = np.where((grid >= 0) & (rated > 0), rated, grid)
    return grid.astype(np.float32), transform, dlat, dlon


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def file_safe(name: str) -> str:
    """A name for files and folders on a drone's controller: ASCII letters, digits, "-" and "_" ("Hòa Tú 1" ->
    "Hoa_Tu_1"); spaces and diacritics in paths break some controllers' file pickers."""
    ascii_ = unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D")).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9_-]+", "_", ascii_).strip("_") or "field"


def _write_obstacles(plan: SprayPlan, folder: Path, area_code: str) -> None:
    """The DJI package's obstacles Shapefile: one feature per no-spray area (kind "no-spray"; its name, its kind as
    `excl_kind`, its buffer in metres)."""
    folder.mkdir()
    named = _exclusions_4326(plan)
    _write_vector(folder / f"{area_code}_obstacles.shp", "ESRI Shapefile", [g for _, g in named],
                  [{"kind": "no-spray", "name": x.name, "excl_kind": x.kind, "buffer_m": x.buffer_m} for x, _ in named],
                  f"{area_code}_obstacles", encoding="UTF-8")


def _exclusions_4326(plan: SprayPlan) -> list[tuple[NamedExclusion, Any]]:
    """The plan's named no-spray areas with their outlines in EPSG:4326 (valid, RFC 7946 rings), those too small to
    draw left out (no empty geometry in a file)."""
    out = [(x, to_wgs84_valid(x.geometry_utm, f"EPSG:{plan.utm_epsg}")) for x in named_exclusions(plan)]
    return [(x, g) for x, g in out if not g.is_empty]


def export_dji(plan: SprayPlan, dest: Path, area_code: str = "field", max_bytes: int = 10 * 1024 * 1024) -> Path:
    """DJI Agras prescription package: a zip of one folder with boundary/<code>.shp (field boundary, EPSG:4326),
    rate_map.tif (single band float32 L/ha, EPSG:4326, -1 outside the field) with its world file rate_map.tfw, and
    manifest.json (unit, product, rates, checksums): the raster does not carry its unit, and a wrong unit at import
    mis-doses the field."""
    code = area_code
    area_code = file_safe(area_code)
    folder = f"prescription_{area_code}"
    tmp = _atomic(dest)
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / folder
        (root / "boundary").mkdir(parents=True)
        b = to_wgs84_valid(plan.boundary_utm, f"EPSG:{plan.utm_epsg}")
        _write_vector(root / "boundary" / f"{area_code}.shp", "ESRI Shapefile", [b],
                      [{"code": code, "area_ha": round(plan.boundary_utm.area / 1e4, 6)}], area_code,
                      encoding="UTF-8")
        zg, zp = _zones_4326(plan)
        (root / "zones").mkdir()
        _write_vector(root / "zones" / f"{area_code}_zones.shp", "ESRI Shapefile", zg, zp, f"{area_code}_zones",
                      encoding="UTF-8")
        if not plan.exclusions_utm.is_empty:  # never to be flown over or sprayed: the buffered exclusions, by name
            _write_obstacles(plan, root / "obstacles", area_code)
        grid, transform, dlat, dlon = rate_grid(plan)
        tif = root / "rate_map.tif"
        with rasterio.open(tif, "w", driver="GTiff", width=grid.shape[1], height=grid.shape[0], count=1,
                           dtype="float32", crs="EPSG:4326", transform=transform, nodata=-1.0, compress="deflate",
                           TFW="YES") as dst:
            dst.write(grid, 1)
            dst.update_tags(1, UNIT="L/ha", QUANTITY="spray volume per area")
        if not (root / "rate_map.tfw").exists():
            a = transform
            (root / "rate_map.tfw").write_text(
                f"{a.a:.12f}\n{a.d:.12f}\n{a.b:.12f}\n{a.e:.12f}\n{a.c + a.a / 2:.12f}\n{a.f + a.e / 2:.12f}\n")
        (root / "rate_map.prj").write_text(rasterio.crs.CRS.from_epsg(4326).to_wkt(version="WKT1_ESRI"))
        files = sorted(p for p in root.rglob("*") if p.is_file())
        manifest = {
            "format": "cropwatch DJI Agras prescription package", "version": 1,
            "area_code": code, "unit": "L/ha", "product": plan.config.product,
            "rates_l_per_ha": sorted({round(z.rate_l_per_ha, 3) for z in plan.zones}),
            "raster": {"file": "rate_map.tif", "crs": "EPSG:4326", "nodata": -1, "band_1": "rate in L/ha",
                       "pixel_deg": [dlon, dlat], "size": [int(grid.shape[1]), int(grid.shape[0])]},
            "boundary": f"boundary/{area_code}.shp", "zones": f"zones/{area_code}_zones.shp",
            "obstacles": f"obstacles/{area_code}_obstacles.shp" if not plan.exclusions_utm.is_empty else None,
            "summary": plan.summary.model_dump(mode="json") if plan.summary else None,
            "config": plan.config.model_dump(mode="json", exclude={"exclusions"}),
            "sha256": {p.relative_to(root).as_posix(): _sha256(p) for p in files},
        }
        (root / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in sorted(root.rglob("*")):
                if p.is_file():
                    zf.write(p, f"{folder}/{p.relative_to(root).as_posix()}")
    if tmp.stat().st_size > max_bytes:
        tmp.unlink()
        raise TooLarge(f"the DJI package would exceed {max_bytes // 2**20} MB; use a larger cell size")
    os.replace(tmp, dest)
    return dest


def _d9(x: float) -> str:
    """Decimal with at most 9 fraction digits (the ISOXML schema's limit; terminals reject more)."""
    return f"{x:.9f}".rstrip("0").rstrip(".") if "." in f"{x:.9f}" else f"{x:.9f}"


def _isoxml_polygons(parent: ET.Element, geom: Any, polygon_type: str, designator: str | None = None) -> None:
    """PLN elements (type 1 boundary, 6 obstacle) with an exterior (LSG 1) and interior (LSG 2) rings; `designator`:
    the polygon's name (PLN B, at most 32 characters)."""
    for poly in getattr(geom, "geoms", [geom]):
        pln = ET.SubElement(parent, "PLN", A=polygon_type)
        if designator:
            pln.set("B", designator[:32].rstrip())
        for k, ring in enumerate([poly.exterior, *poly.interiors]):
            lsg = ET.SubElement(pln, "LSG", A="1" if k == 0 else "2")
            for x, y in ring.coords:
                ET.SubElement(lsg, "PNT", A="2", C=_d9(y), D=_d9(x))


# a type-1 grid's cells are one byte, a treatment zone code: 0 outside the field, 1 no spraying, the rates from 2
MAX_TYPE1_RATES = 250


def _grid_cells(grid: np.ndarray, rates: list[float]) -> tuple[bytes, str, list[tuple[int, str, int]]]:
    """(GRD00001.BIN, grid type, treatment zones (code, name, mm3/m2)). Up to MAX_TYPE1_RATES rates: a type-1 grid,
    one byte per cell naming a zone per rate; more (a continuous plan): a type-2 grid, each cell its own rate as a
    little-endian 32-bit value in mm3/m2 under the template zone 2 (a 500 before). Rows from the south-west corner,
    west to east, south to north, as ISO 11783-10 lays them."""
    zones = [(0, "outside field", 0), (1, "no spraying", 0)]
    if len(rates) > MAX_TYPE1_RATES:
        cells = np.where(grid > 0, np.round(grid * 100), 0).astype("<i4")
        return np.flipud(cells).tobytes(), "2", [*zones, (2, "variable rate (grid values)", 0)]
    code_of = {r: i + 2 for i, r in enumerate(rates)}
    codes = np.ones(grid.shape, np.uint8)
    codes[grid < 0] = 0
    for r, c in code_of.items():
        codes[np.isclose(grid, r, atol=1e-3)] = c
    return np.flipud(codes).tobytes(), "1", [*zones, *((code_of[r], f"{r:g} L/ha", int(round(r * 100))) for r in rates)]


def isoxml_taskdata(plan: SprayPlan, area_code: str = "field") -> tuple[bytes, bytes]:
    """(TASKDATA.XML, GRD00001.BIN): a task with the treatment zones of its rates (DDI 0001, mm3/m2), the field
    (partfield with its boundary polygon) and a grid of rates (_grid_cells: type 1, or type 2 past 250 rates)."""
    grid, transform, dlat, dlon = rate_grid(plan)
    rates = sorted({round(z.rate_l_per_ha, 3) for z in plan.zones if z.rate_l_per_ha > 0})
    binary, grid_type, zones = _grid_cells(grid, rates)
    south = transform.f + transform.e * grid.shape[0]
    root = ET.Element("ISO11783_TaskData", VersionMajor="4", VersionMinor="3",
                      ManagementSoftwareManufacturer="cropwatch", ManagementSoftwareVersion="0.1.0",
                      DataTransferOrigin="1")
    # the product and how terminals show the rate: value in mm3/m2 x 0.01 = L/ha, 1 decimal
    ET.SubElement(root, "PDT", A="PDT1", B=(plan.config.product or "spray mix")[:32].rstrip())  # no cut-off space
    ET.SubElement(root, "VPN", A="VPN1", B="0", C="0.01", D="1", E="L/ha")
    pfd = ET.SubElement(root, "PFD", A="PFD1", C=area_code[:32].rstrip(), D=str(int(round(plan.boundary_utm.area))))
    b = to_wgs84_valid(plan.boundary_utm, f"EPSG:{plan.utm_epsg}")
    _isoxml_polygons(pfd, b, "1")  # field boundary
    for x, g in _exclusions_4326(plan):  # the buffered exclusions as obstacles, by name
        _isoxml_polygons(pfd, g, "6", x.name)
    # default and position-lost treatment: zone 1 (0 L/ha): a controller that loses GNSS stops spraying
    tsk = ET.SubElement(root, "TSK", A="TSK1", B=f"spray {area_code}"[:32].rstrip(), E="PFD1", G="1", H="1", I="1", J="0")
    for c, label, value in zones:
        tzn = ET.SubElement(tsk, "TZN", A=str(c), B=label)
        ET.SubElement(tzn, "PDV", A=DDI_VOLUME_PER_AREA, B=str(value), C="PDT1", E="VPN1")
    ET.SubElement(tsk, "GRD", A=_d9(south), B=_d9(transform.c), C=_d9(dlat), D=_d9(dlon), E=str(grid.shape[1]),
                  F=str(grid.shape[0]), G="GRD00001", H=str(len(binary)), I=grid_type,
                  J="2" if grid_type == "2" else "0")
    ET.indent(root)
    xml = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")
    return xml, binary


def export_isoxml(plan: SprayPlan, dest: Path, area_code: str = "field") -> Path:
    xml, binary = isoxml_taskdata(plan, area_code)
    tmp = _atomic(dest)
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("TASKDATA/TASKDATA.XML", xml)
        zf.writestr("TASKDATA/GRD00001.BIN", binary)  # upper case: ISO 11783-10 file names
    os.replace(tmp, dest)
    return dest


@dataclass(frozen=True)
class ExportFormat:
    """One spray-map format: its file suffix, its media type and its writer (plan, dest, area code) -> dest."""

    suffix: str
    media_type: str
    write: Callable[[SprayPlan, Path, str], Path]


EXPORT_FORMATS: dict[str, ExportFormat] = {
    "geojson": ExportFormat(".geojson", "application/geo+json", lambda p, d, c: export_geojson(p, d)),
    "shp": ExportFormat(".zip", "application/zip", lambda p, d, c: export_shp(p, d)),
    "kml": ExportFormat(".kml", "application/vnd.google-earth.kml+xml", lambda p, d, c: export_kml(p, d)),
    "kmz": ExportFormat(".kmz", "application/vnd.google-earth.kmz", lambda p, d, c: export_kmz(p, d)),
    "gpkg": ExportFormat(".gpkg", "application/geopackage+sqlite3", lambda p, d, c: export_gpkg(p, d)),
    "dji": ExportFormat(".zip", "application/zip", export_dji),
    "isoxml": ExportFormat(".zip", "application/zip", export_isoxml),
}
FORMATS = {name: f.suffix for name, f in EXPORT_FORMATS.items()}


def check_format(fmt: str) -> ExportFormat:
    if fmt not in EXPORT_FORMATS:
        raise BadInput(f"unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    return EXPORT_FORMATS[fmt]


def export(plan: SprayPlan, fmt: str, dest: Path, area_code: str = "field") -> Path:
    """Write `plan` as `fmt` (one of EXPORT_FORMATS) to `dest`, atomically."""
    return check_format(fmt).write(plan, dest, area_code)
