"""Growing-area records: validation, creation, import and export, shared by the routes and the CLI."""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import shapely
from pydantic import ValidationError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from api.orm import Account, AreaStatus, GrowingArea, Observation, Role
from api.schemas import (
    AreaCreate,
    AreaPublic,
    AreaUpdate,
    ImportRejection,
    ImportReport,
    ObservationPublic,
)
from api.security import can_edit, visible_areas
from api.services.area_status import centroid, refused_photo_sql
from api.services.crops import canonical_crop
from api.services.place_names import canonical_places
from api.services.spreadsheets import csv_row
from api.settings import get_settings
from api.uploads import save_upload
from inference.advice_detail import current_advice_detail
from inference.errors import BadInput, Conflict, CropwatchError, Forbidden, NotFound, Unsupported, plain_problem
from inference.geo import area_ha, oriented, reproject, to_geojson, utm_epsg_for, validate_boundary
from inference.kml import features_kml
from inference.vectors import VectorData, VectorFileError, read_vector, write_features

# Decree 109/2018 and Circular 02/2024/TT-BNNPTNT practice: a planting-area code covers at least 0.1 ha of annual
# crops or 1 ha of perennial crops. Under it we warn (small plots are still recorded), we do not refuse.
MIN_AREA_HA_ANNUAL = 0.1
MIN_AREA_HA_PERENNIAL = 1.0
# Over this, a boundary is no planting area but a mistake (degrees for metres, a district's outline): it is refused. A
# 982,880 ha square (0.9 x 0.9 degrees, three times Sóc Trăng province) was accepted and then blocked every other
# owner's import in it as an overlap.
MAX_AREA_HA = 10_000.0
# Vietnam's mainland and its inhabited islands (Phú Quốc, Côn Đảo) lie within this lon/lat box. A boundary outside it
# is most often a coordinate mistake (another CRS read as degrees, a sign or digit slip, a point at 0, 0); it is
# recorded with a warning, not refused (a research plot abroad is possible). A point at sea inside the box is not caught.
VIETNAM_EXTENT = (102.0, 8.3, 109.6, 23.5)
PERENNIAL_CROPS = {"fruit", "mango", "durian", "longan", "pomelo", "coconut", "coffee", "pepper", "citrus", "dragon fruit"}


@dataclass
class Boundary:
    geojson: dict[str, Any]
    bounds: tuple[float, float, float, float]
    area_ha: float
    utm_epsg: int


def check_code(code: str) -> str:
    pattern = get_settings().area_code_pattern
    code = code.strip().upper()
    if not re.fullmatch(pattern, code):
        raise BadInput(
            f"area code {code!r} does not match the planting-area code pattern {pattern} "
            "(country, province/unit code and a 4-digit serial, e.g. VN-STOR-0001)"
        )
    return code


def check_boundary(geojson: dict[str, Any]) -> Boundary:
    """A valid EPSG:4326 boundary within the vertex limit (BadInput or TooLarge otherwise)."""
    geom = validate_boundary(geojson, get_settings().max_boundary_vertices)
    c = geom.centroid
    ha = area_ha(geom)
    if ha > MAX_AREA_HA:
        raise BadInput(f"the boundary encloses {ha:,.0f} ha; a planting-area code covers a field or a group of fields "
                       f"(at most {MAX_AREA_HA:,.0f} ha here): check the coordinates and the file's CRS",
                       "boundary_too_large")
    return Boundary(to_geojson(geom), geom.bounds, ha, utm_epsg_for(c.x, c.y))


# A sowing date more than this far ahead is a typing slip (2030 for 2026), not a season planned
SOWING_AHEAD_DAYS = 366


def check_sowing_date(sowing: date | None) -> None:
    if sowing is not None and sowing > date.today() + timedelta(days=SOWING_AHEAD_DAYS):
        raise BadInput(f"sowing_date {sowing} is more than a year ahead: give the date this season was (or will be) "
                       "sown or transplanted, as YYYY-MM-DD")


def canonical_fields(session: Session, fields: dict[str, Any]) -> dict[str, Any]:
    """An area's fields with places in their first-stored spelling and a known crop under the crop table's name
    ("lúa", "Lúa", "RICE" -> rice)."""
    out = canonical_places(session, fields)
    if out.get("crop"):
        out["crop"] = canonical_crop(out["crop"])
    return out


def size_warnings(code: str, crop: str, ha: float, perennial: bool | None = None) -> list[str]:
    perennial = perennial if perennial is not None else crop.strip().lower() in PERENNIAL_CROPS
    minimum = MIN_AREA_HA_PERENNIAL if perennial else MIN_AREA_HA_ANNUAL
    if ha < minimum:
        kind = "perennial" if perennial else "annual"
        size = f"{ha:.3f} ha" if ha >= 0.001 else f"{ha * 1e4:.1f} m²"  # 5 m² read "0.000 ha"
        return [f"{code}: {size} is under the {minimum} ha legal minimum of a planting-area code for {kind} crops"]
    return []


def place_warnings(code: str, bounds: tuple[float, float, float, float]) -> list[str]:
    """A warning when the boundary (lon/lat bounds) lies wholly or partly outside VIETNAM_EXTENT."""
    w, s, e, n = bounds
    x0, y0, x1, y1 = VIETNAM_EXTENT
    if x0 <= w and e <= x1 and y0 <= s and n <= y1:
        return []
    lon, lat = (w + e) / 2, (s + n) / 2
    return [f"{code}: the boundary lies at {lat:.4f}°N {lon:.4f}°E, outside Vietnam (longitude {x0}-{x1}, latitude "
            f"{y0}-{y1}); check the coordinates and the file's CRS (lon/lat in EPSG:4326, or VN-2000 declared)"]


def find_account(session: Session, username: str) -> Account:
    acc = session.scalar(select(Account).where(Account.username == username))
    if acc is None:
        raise BadInput(f"no account named {username!r}; create it first (POST /v1/accounts)")
    return acc


def find_owner(session: Session, username: str, caller: Account) -> Account:
    """The account that is to own an area: a farmer (only an admin may give an area to another kind of account)."""
    acc = find_account(session, username)
    if acc.role is not Role.farmer and caller.role is not Role.admin and acc.id != caller.id:
        # the caller itself may be named: an agronomist's areas, exported with their owner, import again
        article = "an" if acc.role.value[0] in "aeiou" else "a"
        raise Forbidden(f"{username} is {article} {acc.role.value}; areas are owned by farmers (an admin may decide "
                        "otherwise)")
    return acc


def build_area(session: Session, data: AreaCreate, caller: Account) -> tuple[GrowingArea, list[str]]:
    """Validate `data` and return an unsaved GrowingArea (and size warnings). Raises a BadInput, Conflict or Forbidden."""
    code = check_code(data.code)
    check_sowing_date(data.sowing_date)
    if session.scalar(select(GrowingArea.id).where(GrowingArea.code == code)) is not None:
        raise Conflict(f"area code {code} is already registered; codes are unique, use another serial")
    b = check_boundary(data.boundary)
    owner = find_owner(session, data.owner_username, caller) if data.owner_username else caller
    fields = canonical_fields(session, data.model_dump(
        exclude={"code", "boundary", "owner_username", "perennial", "overlap_override_reason"}))
    area = GrowingArea(
        code=code,
        owner_id=owner.id,
        boundary_geojson=b.geojson,
        min_lon=b.bounds[0],
        min_lat=b.bounds[1],
        max_lon=b.bounds[2],
        max_lat=b.bounds[3],
        area_ha=b.area_ha,
        utm_epsg=b.utm_epsg,
        **fields,
    )
    area.centroid_lon, area.centroid_lat = centroid(b.geojson)
    area.owner = owner
    return area, size_warnings(code, area.crop, b.area_ha, data.perennial) + place_warnings(code, b.bounds)


def check_overlap(session: Session, area: GrowingArea, caller: Account, override_reason: str | None) -> None:
    """An area may not overlap another area by more than the allowed share of the smaller of the two
    (CROPWATCH_MAX_OVERLAP_SHARE, default 1 %), another owner's or the same owner's (the same field under two codes
    splits its records, and a photo located in it lands in either); revoked areas do not count. The refusal names the
    other area; an agronomist or an admin may accept the overlap with a reason, which is kept with the area."""
    limit = get_settings().max_overlap_share
    geom = shape(area.boundary_geojson)
    stmt = select(GrowingArea).where(
        GrowingArea.min_lon <= area.max_lon, GrowingArea.max_lon >= area.min_lon,
        GrowingArea.min_lat <= area.max_lat, GrowingArea.max_lat >= area.min_lat,
        GrowingArea.status != AreaStatus.revoked)
    for other in session.scalars(stmt):
        if other.id == area.id:
            continue
        inter = geom.intersection(shape(other.boundary_geojson))
        if inter.is_empty or inter.area == 0:
            continue
        share = area_ha(inter) / max(min(area.area_ha, other.area_ha), 1e-9)
        if share <= limit:
            continue
        if override_reason is None:
            whose = "the same owner's" if other.owner_id == area.owner_id else "another owner's"
            raise Conflict(f"the boundary overlaps {whose} area {other.code} by {100 * share:.1f} % of the "
                           f"smaller area (at most {100 * limit:g} % is allowed); correct the boundary, revoke the "
                           "area it repeats, or ask an agronomist to record the overlap with a reason",
                           reason="area_overlap")
        if caller.role not in (Role.agronomist, Role.admin):
            raise Forbidden("only an agronomist or an admin may accept an overlap with another area")
        area.overlap_override_reason = override_reason


def set_boundary(area: GrowingArea, geojson: dict[str, Any]) -> None:
    b = check_boundary(geojson)
    area.boundary_geojson = b.geojson
    area.min_lon, area.min_lat, area.max_lon, area.max_lat = b.bounds
    area.area_ha = b.area_ha
    area.utm_epsg = b.utm_epsg
    area.centroid_lon, area.centroid_lat = centroid(b.geojson)


def to_public(area: GrowingArea, warnings: list[str] | None = None) -> AreaPublic:
    return AreaPublic(
        id=area.id,
        code=area.code,
        name=area.name,
        crop=area.crop,
        variety=area.variety,
        owner_username=area.owner.username if area.owner else None,
        cooperative=area.cooperative,
        commune=area.commune,
        district=area.district,
        province=area.province,
        status=area.status,
        sowing_date=area.sowing_date,
        season=area.season,
        boundary=area.boundary_geojson,
        area_ha=round(area.area_ha, 6),
        utm_epsg=area.utm_epsg,
        created_at=area.created_at,
        updated_at=area.updated_at,
        overlap_override_reason=area.overlap_override_reason,
        warnings=warnings or [],
    )


def area_at(session: Session, lon: float, lat: float, base_stmt: Any = None) -> GrowingArea | None:
    """The area whose boundary contains (lon, lat) in EPSG:4326, or None. Bbox pre-filter in SQL, exact test here."""
    from shapely.geometry import Point

    base: Any = base_stmt if base_stmt is not None else select(GrowingArea)
    stmt = base.where(
        GrowingArea.min_lon <= lon, GrowingArea.max_lon >= lon, GrowingArea.min_lat <= lat, GrowingArea.max_lat >= lat
    )
    pt = Point(lon, lat)
    for area in session.scalars(stmt):
        if shape(area.boundary_geojson).covers(pt):
            return area
    return None


_IMPORT_FIELDS = {"code", "name", "crop", "variety", "cooperative", "commune", "district", "province", "owner"}


def _already_imported(session: Session, payload: AreaCreate, caller: Account) -> bool:
    """The file's area is registered already, as given: its code, owner and boundary (a corrected file imported again
    after a partial import: its first features were refused as "already registered", so every line was fixed twice)."""
    area = session.scalars(select(GrowingArea).where(GrowingArea.code == check_code(payload.code))).first()
    if area is None:
        return False
    owner = find_owner(session, payload.owner_username, caller) if payload.owner_username else caller
    if area.owner_id != owner.id:
        return False
    given = canonical_fields(session, payload.model_dump(include=set(IMPORT_COMPARED)))
    if any(getattr(area, k) != given.get(k) for k in IMPORT_COMPARED):
        return False  # a corrected name, crop or date: refused as registered, not dropped as "unchanged"
    # the same outline as exported: a GeoPackage writes a Polygon as a MultiPolygon of one part, KML keeps 7 decimals
    # (a re-import of either was refused as "already registered"): within 2e-7 degrees (2 cm) everywhere
    return shape(area.boundary_geojson).hausdorff_distance(shape(check_boundary(payload.boundary).geojson)) <= 2e-7


IMPORT_COMPARED = ("name", "crop", "variety", "cooperative", "commune", "district", "province", "season",
                   "sowing_date")


# A Shapefile's field names hold 10 characters: QGIS and ogr2ogr write sowing_date as sowing_dat and cooperative as
# cooperativ, which the import dropped without a word
_SHAPEFILE_NAMES = {k[:10]: k for k in ("sowing_date", "cooperative") if len(k) > 10}


def _polygonal_part(geom: BaseGeometry) -> BaseGeometry:
    """A Google Earth placemark's MultiGeometry of a label point and the field's polygon (a GeometryCollection): its
    polygons, which are the boundary (it was refused as "got 'GeometryCollection'"). Anything else as it is."""
    if geom.geom_type != "GeometryCollection":
        return geom
    polygons = [g for g in geom.geoms if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polygons) if polygons else geom


def _full_names(props: dict[str, Any]) -> dict[str, Any]:
    """Feature properties with a Shapefile's 10-character field names given their full names."""
    return {(_SHAPEFILE_NAMES[k] if k in _SHAPEFILE_NAMES and _SHAPEFILE_NAMES[k] not in props else k): v
            for k, v in props.items()}


def import_areas(session: Session, data: VectorData, caller: Account, *, all_or_nothing: bool = False) -> ImportReport:
    """Create one area per feature; each feature is accepted or rejected with its reason.

    Feature properties: code, name, crop (required), variety, cooperative, commune, district, province, season,
    sowing_date (YYYY-MM-DD), owner
    (a username; default the caller). With `all_or_nothing`, one rejection rolls the whole import back.
    The caller commits.
    """
    report = ImportReport(created=[], rejected=[], warnings=[], source_crs=data.source_crs)
    seen: set[str] = set()
    for f in data.features:
        props = _full_names({str(k).lower(): v for k, v in f.properties.items()})
        code = str(props.get("code") or "").strip().upper() or None
        if props.get("name2") is not None and str(props.get("name") or "").strip().upper() == code:
            props["name"] = props["name2"]  # KML: GDAL reads a placemark's <name> (our export's code) as Name, and
            # the attribute `name` beside it as name2
        try:
            if f.error or f.geometry is None:
                raise BadInput(f.error or "feature has no geometry")
            missing = [k for k in ("code", "name", "crop") if not props.get(k)]
            if missing:
                raise BadInput(f"missing attribute(s) {', '.join(missing)}; every feature needs code, name and crop")
            if code in seen:
                raise BadInput(f"code {code} appears twice in this file")
            payload = AreaCreate.model_validate({
                "code": str(props["code"]), "name": str(props["name"]), "crop": str(props["crop"]),
                "boundary": to_geojson(_polygonal_part(f.geometry)),
                "owner_username": str(props["owner"]) if props.get("owner") else None,
                **{k: (str(props[k]) if props.get(k) is not None else None)
                   for k in ("variety", "cooperative", "commune", "district", "province", "season", "sowing_date")},
            })
            if _already_imported(session, payload, caller):
                known = check_code(payload.code)
                seen.add(known)
                report.unchanged.append(known)
                continue
            area, warns = build_area(session, payload, caller)
            if not _may_create_for(caller, area):
                raise Forbidden("you may only import areas that you own or that lie in your province/cooperative")
            check_overlap(session, area, caller, None)
            session.add(area)
            session.flush()
            seen.add(area.code)
            report.created.append(area.code)
            report.warnings.extend(warns)
        except ValidationError as exc:  # one plain sentence per field, not pydantic's dump with its URL
            report.rejected.append(ImportRejection(feature=f.index, code=code, reason="; ".join(
                plain_problem(e) for e in exc.errors())))
        except (CropwatchError, ValueError) as exc:
            report.rejected.append(ImportRejection(feature=f.index, code=code, reason=str(exc)))
    if all_or_nothing and report.rejected:
        session.rollback()
        report.created = []
    return report


def _may_create_for(caller: Account, area: GrowingArea) -> bool:
    return can_edit(area, caller)


EXPORT_COLUMNS = [
    "code", "name", "crop", "variety", "season", "owner", "cooperative", "commune", "district", "province", "status",
    "area_ha", "sowing_date",
]


def _row(a: GrowingArea) -> dict[str, Any]:
    return {
        "code": a.code, "name": a.name, "crop": a.crop, "variety": a.variety, "season": a.season,
        "sowing_date": a.sowing_date.isoformat() if a.sowing_date else None,
        "owner": a.owner.username if a.owner else None, "cooperative": a.cooperative, "commune": a.commune,
        "district": a.district, "province": a.province, "status": a.status.value, "area_ha": round(a.area_ha, 6),
    }


def export_geojson(areas: list[GrowingArea]) -> dict[str, Any]:
    """RFC 7946 FeatureCollection (EPSG:4326) of the areas, attributes as in the CSV export."""
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": a.code, "properties": _row(a), "geometry": _rfc7946(a.boundary_geojson)}
            for a in areas
        ],
    }


def _rfc7946(geojson: dict[str, Any]) -> dict[str, Any]:
    """A boundary with its outer rings counter-clockwise and its holes clockwise, as RFC 7946 asks (a clockwise
    outline drawn in another tool was exported as given)."""
    return to_geojson(oriented(shape(geojson)))


def export_kml(areas: list[GrowingArea]) -> str:
    """KML with one placemark per area (its code as name) and the CSV's attributes as typed KML fields."""
    return features_kml("growing_areas", [(a.code, shape(a.boundary_geojson), _row(a)) for a in areas])


def export_gpkg(areas: list[GrowingArea]) -> bytes:
    """A GeoPackage with one layer `growing_areas` (EPSG:4326), the CSV's attributes as columns."""
    if not areas:
        raise NotFound("no area matches the filters: a GeoPackage needs at least one; widen the filters")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "areas.gpkg"
        write_features(path, "GPKG", [shape(a.boundary_geojson) for a in areas], [_row(a) for a in areas],
                       "growing_areas", VERSION="1.2")
        return path.read_bytes()


EXPORT_TYPES = {"geojson": "application/geo+json", "csv": "text/csv", "kml": "application/vnd.google-earth.kml+xml",
                "gpkg": "application/geopackage+sqlite3"}


def export(areas: list[GrowingArea], fmt: str) -> str | bytes:
    """The areas in one of EXPORT_TYPES (the API and the CLI)."""
    if fmt == "geojson":
        return json.dumps(export_geojson(areas), ensure_ascii=False)
    if fmt == "gpkg":
        return export_gpkg(areas)
    return export_csv(areas) if fmt == "csv" else export_kml(areas)


def export_csv(areas: list[GrowingArea]) -> str:
    """CSV with one row per area; the boundary as WKT in EPSG:4326 (column boundary_wkt); text beginning like a
    formula is kept from spreadsheets (api/services/spreadsheets.py)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=[*EXPORT_COLUMNS, "boundary_wkt"], lineterminator="\n")
    w.writeheader()
    for a in areas:
        w.writerow(csv_row({**_row(a), "boundary_wkt": shape(a.boundary_geojson).wkt}))
    return buf.getvalue()


def filtered_areas(
    account: Account, crop: str | None = None, status: AreaStatus | None = None, owner: str | None = None,
    commune: str | None = None, bbox: str | None = None,
) -> Select[Any]:
    """The query of the areas `account` may see, filtered; bbox is min_lon,min_lat,max_lon,max_lat in degrees."""
    stmt = visible_areas(select(GrowingArea), account)
    if crop:
        stmt = stmt.where(GrowingArea.crop == canonical_crop(crop))  # ?crop=lúa finds the rice areas
    if status:
        stmt = stmt.where(GrowingArea.status == status)
    if owner:
        stmt = stmt.join(Account, GrowingArea.owner_id == Account.id).where(Account.username == owner)
    if commune:
        stmt = stmt.where(GrowingArea.commune == commune)
    if bbox:
        try:
            minx, miny, maxx, maxy = (float(v) for v in bbox.split(","))
        except ValueError as exc:
            raise BadInput("bbox must be min_lon,min_lat,max_lon,max_lat in degrees") from exc
        stmt = stmt.where(
            GrowingArea.max_lon >= minx, GrowingArea.min_lon <= maxx,
            GrowingArea.max_lat >= miny, GrowingArea.min_lat <= maxy,
        )
    return stmt


def create_area(session: Session, data: AreaCreate, account: Account) -> AreaPublic:
    """Register an area for `account` (farmers only for themselves; others within their province/cooperative)."""
    if account.role is Role.farmer and data.owner_username not in (None, account.username):
        raise Forbidden("a farmer can only register areas that they own")
    area, warnings = build_area(session, data, account)
    if not can_edit(area, account):
        raise Forbidden("you may only register areas in your province or cooperative")
    check_overlap(session, area, account, data.overlap_override_reason)
    session.add(area)
    session.commit()
    return to_public(area, warnings)


def update_area(session: Session, area: GrowingArea, data: AreaUpdate, account: Account) -> AreaPublic:
    """Change attributes or the boundary; farmers may not change status or owner."""
    if not can_edit(area, account):
        raise Forbidden("you may read this area but not change it")
    changes = data.model_dump(exclude_unset=True)
    check_sowing_date(changes.get("sowing_date"))
    if account.role is Role.farmer and ("status" in changes or "owner_username" in changes):
        raise Forbidden("a farmer cannot change an area's status or owner; ask an agronomist")
    reason = changes.pop("overlap_override_reason", None)
    warnings: list[str] = []
    try:
        if "boundary" in changes:
            old = shape(area.boundary_geojson)
            set_boundary(area, changes.pop("boundary"))
            warnings += moved_warning(session, area, old)
        if "owner_username" in changes:
            area.owner = find_owner(session, changes.pop("owner_username"), account)
            area.owner_id = area.owner.id
        revived = area.status is AreaStatus.revoked and changes.get("status") not in (None, AreaStatus.revoked)
        if "boundary" in data.model_fields_set or "owner_username" in data.model_fields_set or revived:
            # a revoked area brought back must not overlap the area registered on its ground meanwhile
            with session.no_autoflush:
                check_overlap(session, area, account, reason)
    except CropwatchError:
        session.rollback()
        raise
    for k, v in canonical_fields(session, changes).items():
        setattr(area, k, v)
    session.commit()
    bounds = (area.min_lon, area.min_lat, area.max_lon, area.max_lat)
    return to_public(area, warnings + size_warnings(area.code, area.crop, area.area_ha) + place_warnings(area.code, bounds))


def moved_warning(session: Session, area: GrowingArea, old: BaseGeometry) -> list[str]:
    """A warning when a boundary with records against it moves off its old ground (no overlap): the photos, flights
    and sprays stay with the code, and a different field deserves its own (a move from Sóc Trăng to Hà Nội was silent,
    the province unchanged)."""
    new = shape(area.boundary_geojson)
    if new.intersects(old):
        return []
    n = session.scalar(select(func.count()).select_from(Observation).where(Observation.area_id == area.id)) or 0
    if not n:
        return []
    c_old, c_new = old.centroid, new.centroid
    epsg = utm_epsg_for(c_old.x, c_old.y)
    km = reproject(c_old, "EPSG:4326", f"EPSG:{epsg}").distance(reproject(c_new, "EPSG:4326", f"EPSG:{epsg}")) / 1000
    return [f"{area.code}: the new boundary lies {km:.1f} km from the old one and does not overlap it; the area's {n} "
            "records (photos, flights) stay with this code, and its commune, district and province are as they were: "
            "if this is another field, register it under a new code"]


def deactivate_area(session: Session, area: GrowingArea, account: Account) -> AreaPublic:
    """Suspend an area (agronomists of its province/cooperative, admins); its history is kept."""
    if account.role not in (Role.admin, Role.agronomist) or not can_edit(area, account):
        raise Forbidden("only an agronomist of the area's province/cooperative or an admin may do this")
    area.status = AreaStatus.suspended
    session.commit()
    return to_public(area)


IMPORT_SUFFIXES = {".geojson", ".json", ".kml", ".kmz", ".zip", ".gpkg", ".csv"}


def read_vector_upload(stream: BinaryIO, filename: str | None) -> VectorData:
    """An uploaded vector file (any format and CRS that area import reads), saved under the size limit to a
    temporary folder and read; every problem is a BadInput naming the file."""
    name = Path(filename or "upload").name
    suffix = check_import_name(name)
    with tempfile.TemporaryDirectory(prefix="cropwatch-vector-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        save_upload(stream, path, get_settings().max_upload_bytes, name)
        try:
            return read_vector(path)
        except VectorFileError as exc:
            raise BadInput(f"{name}: {exc}") from exc


def import_area_file(session: Session, account: Account, stream: BinaryIO, filename: str | None,
                     all_or_nothing: bool = False) -> ImportReport:
    """Import the areas of an uploaded vector file."""
    data = read_vector_upload(stream, filename)
    report = import_areas(session, data, account, all_or_nothing=all_or_nothing)
    session.commit()
    return report


def check_import_name(name: str) -> str:
    """The suffix of an import file, or Unsupported."""
    suffix = Path(name).suffix.lower()
    if suffix not in IMPORT_SUFFIXES:
        raise Unsupported(f"{name}: unsupported file type; upload .geojson, .kml, .kmz, .gpkg, a zipped Shapefile "
                          "(.zip) or the areas' .csv export (boundary_wkt)")
    return suffix


def observations(session: Session, area: GrowingArea, source: str | None, limit: int,
                 offset: int, include_refused: bool = False) -> list[ObservationPublic]:
    """The area's observations, newest first; photos the quality gate refused (the farmer was asked to take them
    again) only with include_refused."""
    stmt = select(Observation).where(Observation.area_id == area.id)
    if source:
        stmt = stmt.where(Observation.source == source)
    if not include_refused:
        stmt = stmt.where(~refused_photo_sql())
    rows = session.scalars(stmt.order_by(Observation.observed_at.desc()).limit(limit).offset(offset))
    out = [ObservationPublic.model_validate(o, from_attributes=True) for o in rows]
    for o in out:  # a photo's advice detail as the advice data says it today (photos.current_advice_detail)
        if o.source == "photo":
            o.scores = current_advice_detail(o.scores)
    return out
