"""Reading and writing vector files (GeoJSON, KML/KMZ, zipped Shapefile, GeoPackage) through GDAL (pyogrio), and
the CSV of areas the service exports (a WKT boundary per row, EPSG:4326), as a clerk edits it in a spreadsheet.

Every geometry read is reprojected to EPSG:4326; the source CRS is reported.
"""

from __future__ import annotations

import io
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pyogrio
import pyogrio.raw
import shapely
from pyogrio.errors import DataSourceError
from shapely.geometry.base import BaseGeometry

from inference.errors import BadInput, reason
from inference.geo import reproject


class VectorFileError(BadInput):
    """A vector file that cannot be read; the message says what is wrong and how to fix it."""


@dataclass
class Feature:
    index: int
    properties: dict[str, Any]
    geometry: BaseGeometry | None  # EPSG:4326
    error: str | None = None


@dataclass
class VectorData:
    source_crs: str | None
    features: list[Feature] = field(default_factory=list)


MAX_UNZIPPED_BYTES = 200 * 1024 * 1024


def safe_extract_zip(path: Path, dest: Path, max_bytes: int = MAX_UNZIPPED_BYTES) -> list[Path]:
    """Extract a zip into `dest`, refusing entries that leave it (absolute, '..', links) and zip bombs."""
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise VectorFileError("the upload is not a readable zip file; zip the .shp, .shx, .dbf and .prj files") from exc
    with zf:
        total = 0
        for info in zf.infolist():
            name = PurePosixPath(info.filename.replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts or (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise VectorFileError(
                    f"the zip contains {info.filename!r}, a path outside the archive; zip the files themselves"
                )
            total += info.file_size
            if total > max_bytes:
                raise VectorFileError(f"the zip unpacks to more than {max_bytes // 2**20} MiB; upload a smaller file")
        _extract_counted(zf, dest, max_bytes)
    return [p for p in dest.rglob("*") if p.is_file()]


def _extract_counted(zf: zipfile.ZipFile, dest: Path, max_bytes: int) -> None:
    """Extract entry by entry counting the bytes really written: sizes in the zip's directory can lie."""
    written = 0
    try:
        for info in zf.infolist():
            target = dest / PurePosixPath(info.filename.replace("\\", "/"))
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, target.open("wb") as out:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > max_bytes:
                        raise VectorFileError(f"the zip unpacks to more than {max_bytes // 2**20} MiB (its directory "
                                              "says less); upload a smaller file")
                    out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise VectorFileError(f"the zip file is damaged ({reason(exc)}); zip the files again and upload") from exc


@contextmanager
def _readable_path(path: Path) -> Iterator[Path]:
    suffix = path.suffix.lower()
    if suffix in {".zip", ".kmz"}:
        with tempfile.TemporaryDirectory(prefix="cropwatch-vec-") as tmp:
            files = safe_extract_zip(path, Path(tmp))
            wanted = [".kml"] if suffix == ".kmz" else [".shp", ".geojson", ".json", ".gpkg", ".kml"]
            for ext in wanted:
                found = sorted(p for p in files if p.suffix.lower() == ext)
                if found:
                    yield found[0]
                    return
            raise VectorFileError(
                f"the {suffix} file holds no {' or '.join(wanted)} file; a zipped Shapefile needs its .shp, .shx, "
                ".dbf and .prj together"
            )
    else:
        yield path


def _read_layer(p: Path, layer_name: str) -> Any:
    """pyogrio.raw.read of one layer. A Shapefile without its .cpg is read as UTF-8 first (what QGIS and GDAL write
    today; GDAL's default for it, Latin-1, turned "Ruộng Bà Tư" into "Ruá»\x99ng BÃ\xa0 TÆ°"), and with that default
    when its text is not UTF-8."""
    cpg = [f for f in p.parent.glob(f"{p.stem}.*") if f.suffix.lower() == ".cpg"] if p.suffix.lower() == ".shp" else []
    if p.suffix.lower() == ".shp" and not cpg:
        try:
            return pyogrio.raw.read(p, layer=layer_name, encoding="UTF-8")
        except Exception:  # noqa: BLE001 - not UTF-8: GDAL's own reading below
            pass
    if cpg and "1258" in cpg[0].read_text(errors="replace"):
        return _read_cp1258(p, layer_name)
    return pyogrio.raw.read(p, layer=layer_name)


def _read_cp1258(p: Path, layer_name: str) -> Any:
    """A Shapefile whose .cpg says Windows-1258 (Vietnamese): its bytes read as Latin-1 (one character per byte, no
    loss) and decoded here. GDAL's iconv decoder for 1258 holds the last character of every value and field name
    back and loses it ("Ruộng Bà T" for "Ruộng Bà Tư", the field "cod" for "code"); Python's codec does not."""
    meta, fids, geoms, fields = pyogrio.raw.read(p, layer=layer_name, encoding="latin1")

    def fix(text: Any) -> Any:
        return unicodedata.normalize("NFC", text.encode("latin1").decode("cp1258")) if isinstance(text, str) else text

    meta["fields"] = np.array([fix(n) for n in meta["fields"]], dtype=object)
    fields = [np.array([fix(v) for v in col], dtype=object) if col.dtype == object else col for col in fields]
    return meta, fids, geoms, fields


def read_vector(path: str | Path) -> VectorData:
    """Read every feature of every layer; geometries reprojected to EPSG:4326.

    Raises VectorFileError for an unreadable file or a missing CRS, whose message does not name the file: the caller
    puts the name the user knows before it (an upload is read from a temporary copy whose name meant nothing to them).
    Per-feature problems (no geometry, a geometry that cannot be reprojected) are recorded on the feature, not raised.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise VectorFileError("the uploaded file is empty")
    if path.suffix.lower() == ".csv":
        return read_wkt_csv(path)
    with _readable_path(path) as p:
        try:
            layers = pyogrio.list_layers(p)
        except (DataSourceError, Exception) as exc:  # noqa: BLE001 - GDAL raises varied errors for junk
            why = reason(exc).split('  ')[0]
            if "not recognized" in why:  # GDAL's "... prefixing the file path with '<DRIVER>:'" means nothing here
                why = "its content is none of these formats (a file cut short, or another kind of file renamed?)"
            raise VectorFileError(
                f"cannot read it as a vector file (GeoJSON, KML/KMZ, zipped Shapefile or GeoPackage): {why}"
            ) from exc
        out = VectorData(source_crs=None)
        index = 0
        for layer_name, _gtype in layers:
            try:
                meta, _fids, geoms, field_data = _read_layer(p, layer_name)
            except Exception as exc:  # noqa: BLE001
                raise VectorFileError(f"cannot read its layer {layer_name!r}: {reason(exc)}") from exc
            crs = meta.get("crs")
            if crs is None and len(geoms):
                if p.suffix.lower() == ".shp":
                    hint = "the Shapefile has no .prj file; add it to the zip (QGIS writes it with the layer)"
                else:
                    hint = "the file declares no CRS; save it with its CRS (EPSG:4326 for GeoJSON)"
                raise VectorFileError(f"cannot tell where these coordinates are: {hint}")
            out.source_crs = out.source_crs or crs
            names = list(meta["fields"])
            for i in range(len(geoms)):
                props = {n: _plain(field_data[j][i]) for j, n in enumerate(names)}
                wkb = geoms[i]
                if wkb is None:
                    out.features.append(Feature(index, props, None, "feature has no geometry"))
                else:
                    try:
                        g = shapely.from_wkb(wkb)
                        g = reproject(shapely.force_2d(g), crs, "EPSG:4326")
                        out.features.append(Feature(index, props, g))
                    except Exception as exc:  # noqa: BLE001
                        out.features.append(Feature(index, props, None, _geometry_problem(exc)))
                index += 1
    if not out.features:
        raise VectorFileError("it holds no features")
    return out


def _geometry_problem(exc: Exception) -> str:
    """What is wrong with a feature's geometry, in words (not GEOS's IllegalArgumentException)."""
    text = reason(exc)
    if "closed linestring" in text:
        return ("a ring of its outline is not closed: its last position must repeat the first; close the polygon in "
                "QGIS (or the tool that drew it) and export it again")
    if "LinearRing" in text and "4" in text:
        return "a ring of its outline has fewer than 4 positions (three corners and the first repeated)"
    return f"its geometry cannot be read: {text}"


WKT_COLUMNS = ("boundary_wkt", "wkt", "geometry")
# what a spreadsheet reads as a formula: the export writes such text with a leading apostrophe (api/services/spreadsheets)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def read_wkt_csv(path: Path) -> VectorData:
    """A CSV with a WKT geometry column (boundary_wkt, as `GET /v1/areas/export?format=csv` writes, or wkt or
    geometry, in any case: QGIS writes WKT) in EPSG:4326, one feature per row, columns separated by commas or
    semicolons (Excel where the decimal mark is a comma); empty cells are None, and the apostrophe the export put
    before text beginning like a formula is taken off. UTF-8 with or without a byte-order mark ("CSV UTF-8" in
    Excel)."""
    import csv

    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise VectorFileError("the CSV is not UTF-8; in Excel save it as \"CSV UTF-8 (Comma delimited)\"") from exc
    head = text.split("\n", 1)[0]
    # a Vietnamese (or any comma-decimal) Excel writes ";" between columns
    delimiter = ";" if head.count(";") > head.count(",") else ","
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))  # a quoted name may hold a line break
    by_lower = {c.strip().lower(): c for c in (rows[0] if rows else {}) if c}  # QGIS and ogr2ogr write "WKT"
    column = next((by_lower[c] for c in WKT_COLUMNS if c in by_lower), None)
    if column is None:
        raise VectorFileError(f"the CSV has no boundary column; it needs one of {', '.join(WKT_COLUMNS)} with the "
                              "boundary as WKT in EPSG:4326 (as the areas' CSV export writes it)")
    out = VectorData(source_crs="EPSG:4326")
    for i, row in enumerate(rows):
        props = {k: _unquoted(v) for k, v in row.items() if k and k != column}
        try:
            out.features.append(Feature(i, props, shapely.from_wkt(row[column])))
        except Exception as exc:  # noqa: BLE001 - shapely raises varied errors for bad WKT
            out.features.append(Feature(i, props, None, f"{column} is not WKT: {reason(exc)}"))
    if not out.features:
        raise VectorFileError("it holds no features")
    return out


def _unquoted(v: str | None) -> str | None:
    if v is None or v.strip() == "":
        return None
    return v[1:] if v.startswith("'") and v[1:].startswith(_FORMULA_START) else v


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and v != v:  # NaN from GDAL for missing numbers
        return None
    return v


def write_features(path: Path, driver: str, geoms: list[Any], props: list[dict[str, Any]], layer: str,
                   fields: list[str] | None = None, append: bool = False, geometry_type: str | None = None,
                   numeric: frozenset[str] = frozenset(), **kw: Any) -> None:
    """Write polygons with attributes (EPSG:4326) through GDAL: one layer of a GeoPackage, a Shapefile, ...
    A column of text is written as text, numbers as numbers; `fields` names the columns of an empty layer (text, but
    real numbers for the names in `numeric`, so the layer has one schema with or without features);
    `geometry_type` fixes the layer's type (else the geometries', Polygon for an empty layer)."""
    names = list(props[0]) if props else list(fields or [])
    data = [np.array([p[n] for p in props], dtype=(np.float64 if n in numeric else object) if not props else
                     object if any(isinstance(p[n], str) for p in props) else None) for n in names]
    geoms = [shapely.force_2d(g) for g in geoms]
    gtype = geometry_type or ("MultiPolygon" if any(g.geom_type == "MultiPolygon" for g in geoms) else (
        geoms[0].geom_type if geoms else "Polygon"))
    pyogrio.raw.write(path, np.array(shapely.to_wkb(geoms), dtype=object), data, names, crs="EPSG:4326",
                      driver=driver, geometry_type=gtype, layer=layer, append=append, **kw)
