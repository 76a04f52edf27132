"""Growing areas (planting-area codes): records, look-up, import and export."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, HTTPException, Query, Response, UploadFile, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.areas import (
    AreaError,
    area_at,
    build_area,
    check_code,
    export_csv,
    export_geojson,
    find_account,
    import_areas,
    set_boundary,
    size_warnings,
    to_public,
)
from api.db import get_session
from api.orm import Account, AreaStatus, GrowingArea, Observation, Role
from api.schemas import AreaCreate, AreaPage, AreaPublic, AreaUpdate, ImportReport
from api.security import CurrentAccount, can_edit, can_see, visible_areas
from api.settings import get_settings
from api.uploads import save_upload
from inference.vectors import VectorFileError, read_vector

router = APIRouter(prefix="/v1/areas", tags=["areas"])
SessionDep = Annotated[Session, Depends(get_session)]


def _http(exc: AreaError) -> HTTPException:
    return HTTPException(exc.status, detail=str(exc))


def get_visible_area(code: str, session: Session, account: Account) -> GrowingArea:
    """The area with `code` if `account` may see it; 404 otherwise (no hint that a hidden area exists)."""
    area = session.scalar(select(GrowingArea).where(GrowingArea.code == code.strip().upper()))
    if area is None or not can_see(area, account):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no growing area with code {code!r} that you may see")
    return area


def _filtered(
    account: Account,
    crop: str | None,
    status_: AreaStatus | None,
    owner: str | None,
    commune: str | None,
    bbox: str | None,
):  # type: ignore[no-untyped-def]
    stmt = visible_areas(select(GrowingArea), account)
    if crop:
        stmt = stmt.where(GrowingArea.crop == crop)
    if status_:
        stmt = stmt.where(GrowingArea.status == status_)
    if owner:
        stmt = stmt.join(Account, GrowingArea.owner_id == Account.id).where(Account.username == owner)
    if commune:
        stmt = stmt.where(GrowingArea.commune == commune)
    if bbox:
        try:
            minx, miny, maxx, maxy = (float(v) for v in bbox.split(","))
        except ValueError as exc:
            raise HTTPException(422, detail="bbox must be min_lon,min_lat,max_lon,max_lat in degrees") from exc
        stmt = stmt.where(
            GrowingArea.max_lon >= minx, GrowingArea.min_lon <= maxx,
            GrowingArea.max_lat >= miny, GrowingArea.min_lat <= maxy,
        )
    return stmt


@router.post("", response_model=AreaPublic, status_code=201)
def create_area(data: AreaCreate, session: SessionDep, account: CurrentAccount) -> AreaPublic:
    """Register a growing area with its boundary (EPSG:4326)."""
    if account.role is Role.drone_operator:
        raise HTTPException(403, detail="drone operators cannot register areas; ask an agronomist or the owner")
    if account.role is Role.farmer and data.owner_username not in (None, account.username):
        raise HTTPException(403, detail="a farmer can only register areas that they own")
    try:
        area, warnings = build_area(session, data, account)
    except AreaError as exc:
        raise _http(exc) from exc
    if not can_edit(area, account):
        raise HTTPException(403, detail="you may only register areas in your province or cooperative")
    session.add(area)
    session.commit()
    return to_public(area, warnings)


@router.get("", response_model=AreaPage)
def list_areas(
    session: SessionDep,
    account: CurrentAccount,
    crop: str | None = None,
    status_: Annotated[AreaStatus | None, Query(alias="status")] = None,
    owner: str | None = None,
    commune: str | None = None,
    bbox: Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AreaPage:
    """List the areas you may see, filtered and paginated."""
    stmt = _filtered(account, crop, status_, owner, commune, bbox)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = session.scalars(stmt.order_by(GrowingArea.code).limit(limit).offset(offset)).unique()
    return AreaPage(items=[to_public(a) for a in items], total=total, limit=limit, offset=offset)


@router.get("/lookup", response_model=AreaPublic)
def lookup_area(
    session: SessionDep,
    account: CurrentAccount,
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
) -> AreaPublic:
    """The area whose boundary contains the point (lat, lon in degrees)."""
    area = area_at(session, lon, lat, visible_areas(select(GrowingArea), account))
    if area is None:
        raise HTTPException(404, detail=f"no growing area that you may see contains lat={lat}, lon={lon}")
    return to_public(area)


@router.post("/import", response_model=ImportReport)
def import_area_file(
    session: SessionDep,
    account: CurrentAccount,
    file: Annotated[UploadFile, File(description="GeoJSON, KML/KMZ or zipped Shapefile, any CRS")],
    all_or_nothing: bool = False,
) -> ImportReport:
    """Import areas from a vector file; reports what was rejected per feature and why."""
    if account.role is Role.drone_operator:
        raise HTTPException(403, detail="drone operators cannot register areas")
    name = Path(file.filename or "upload").name
    suffix = Path(name).suffix.lower()
    if suffix not in {".geojson", ".json", ".kml", ".kmz", ".zip", ".gpkg"}:
        raise HTTPException(
            415, detail=f"{name}: unsupported file type; upload .geojson, .kml, .kmz, .gpkg or a zipped Shapefile (.zip)"
        )
    limit = get_settings().max_upload_bytes
    with tempfile.TemporaryDirectory(prefix="cropwatch-import-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        save_upload(file, path, limit, name)
        try:
            data = read_vector(path)
        except VectorFileError as exc:
            raise HTTPException(422, detail=f"{name}: {exc}") from exc
        report = import_areas(session, data, account, all_or_nothing=all_or_nothing)
    session.commit()
    return report


@router.get("/export")
def export_areas(
    session: SessionDep,
    account: CurrentAccount,
    format: Annotated[str, Query(pattern="^(geojson|csv)$")] = "geojson",
    crop: str | None = None,
    status_: Annotated[AreaStatus | None, Query(alias="status")] = None,
    owner: str | None = None,
    commune: str | None = None,
    bbox: str | None = None,
) -> Response:
    """Export the areas you may see as GeoJSON (EPSG:4326) or CSV (boundary as WKT)."""
    stmt = _filtered(account, crop, status_, owner, commune, bbox).order_by(GrowingArea.code)
    areas = list(session.scalars(stmt).unique())
    if format == "csv":
        return Response(
            export_csv(areas), media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="areas.csv"'},
        )
    import json

    return Response(
        json.dumps(export_geojson(areas), ensure_ascii=False), media_type="application/geo+json",
        headers={"Content-Disposition": 'attachment; filename="areas.geojson"'},
    )


@router.get("/{code}", response_model=AreaPublic)
def read_area(code: str, session: SessionDep, account: CurrentAccount) -> AreaPublic:
    """One growing area."""
    return to_public(get_visible_area(code, session, account))


@router.patch("/{code}", response_model=AreaPublic)
def update_area(code: str, data: AreaUpdate, session: SessionDep, account: CurrentAccount) -> AreaPublic:
    """Change an area's attributes or boundary."""
    area = get_visible_area(code, session, account)
    if not can_edit(area, account):
        raise HTTPException(403, detail="you may read this area but not change it")
    changes = data.model_dump(exclude_unset=True)
    if account.role is Role.farmer and ("status" in changes or "owner_username" in changes):
        raise HTTPException(403, detail="a farmer cannot change an area's status or owner; ask an agronomist")
    try:
        if "boundary" in changes:
            set_boundary(area, changes.pop("boundary"))
        if "owner_username" in changes:
            area.owner = find_account(session, changes.pop("owner_username"))
    except AreaError as exc:
        session.rollback()
        raise _http(exc) from exc
    for k, v in changes.items():
        setattr(area, k, v)
    session.commit()
    return to_public(area, size_warnings(area.code, area.crop, area.area_ha))


@router.delete("/{code}", response_model=AreaPublic)
def deactivate_area(code: str, session: SessionDep, account: CurrentAccount) -> AreaPublic:
    """Deactivate (suspend) an area; its history is kept."""
    area = get_visible_area(code, session, account)
    if account.role not in (Role.admin, Role.agronomist) or not can_edit(area, account):
        raise HTTPException(403, detail="only an agronomist of the area's province/cooperative or an admin may do this")
    area.status = AreaStatus.suspended
    session.commit()
    return to_public(area)


@router.get("/{code}/observations")
def list_observations(
    code: str,
    session: SessionDep,
    account: CurrentAccount,
    source: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict]:  # type: ignore[type-arg]
    """The area's observations, newest first."""
    area = get_visible_area(code, session, account)
    stmt = select(Observation).where(Observation.area_id == area.id)
    if source:
        stmt = stmt.where(Observation.source == source)
    rows = session.scalars(stmt.order_by(Observation.observed_at.desc()).limit(limit).offset(offset))
    return [
        {
            "id": o.id, "source": o.source, "observed_at": o.observed_at.isoformat(), "scores": o.scores,
            "schema_version": o.schema_version, "model_name": o.model_name, "model_version": o.model_version,
            "lon": o.lon, "lat": o.lat,
        }
        for o in rows
    ]


__all__ = ["router", "get_visible_area", "check_code"]
