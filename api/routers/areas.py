"""Growing areas (planting-area codes): records, look-up, import and export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Response, UploadFile
from sqlalchemy import func, select

from api.deps import CurrentAccount, RecordKeeperAccount, SessionDep, VisibleArea
from api.errors import ERROR_RESPONSES
from api.orm import AreaStatus, GrowingArea
from api.schemas import AreaCreate, AreaPage, AreaPublic, AreaUpdate, ImportReport, ObservationPublic
from api.security import visible_areas
from api.services import areas, growth
from api.services.place_names import canonical_place
from inference.errors import NotFound

router = APIRouter(prefix="/v1/areas", tags=["areas"], responses=ERROR_RESPONSES)
StatusQuery = Annotated[AreaStatus | None, Query(alias="status")]
BboxQuery = Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat")]


@router.post("", response_model=AreaPublic, status_code=201)
def create_area(data: AreaCreate, session: SessionDep, account: RecordKeeperAccount) -> AreaPublic:
    """Register a growing area with its boundary (EPSG:4326)."""
    return areas.create_area(session, data, account)


@router.get("", response_model=AreaPage)
def list_areas(
    session: SessionDep, account: CurrentAccount, crop: str | None = None, status_: StatusQuery = None,
    owner: str | None = None, commune: str | None = None, bbox: BboxQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Annotated[int, Query(ge=0)] = 0,
) -> AreaPage:
    """List the areas you may see, filtered and paginated."""
    stmt = areas.filtered_areas(account, crop, status_, owner, canonical_place(session, "commune", commune), bbox)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = session.scalars(stmt.order_by(GrowingArea.code).limit(limit).offset(offset)).unique()
    return AreaPage(items=[areas.to_public(a) for a in items], total=total, limit=limit, offset=offset)


@router.get("/lookup", response_model=AreaPublic)
def lookup_area(session: SessionDep, account: CurrentAccount, lat: Annotated[float, Query(ge=-90, le=90)],
                lon: Annotated[float, Query(ge=-180, le=180)]) -> AreaPublic:
    """The area whose boundary contains the point (lat, lon in degrees)."""
    area = areas.area_at(session, lon, lat, visible_areas(select(GrowingArea), account))
    if area is None:
        raise NotFound(f"no growing area that you may see contains lat={lat}, lon={lon}")
    return areas.to_public(area)


@router.post("/import", response_model=ImportReport)
def import_area_file(
    session: SessionDep, account: RecordKeeperAccount,
    file: Annotated[UploadFile, File(description="GeoJSON, KML/KMZ or zipped Shapefile, any CRS")],
    all_or_nothing: bool = False,
) -> ImportReport:
    """Import areas from a vector file; reports what was rejected per feature and why."""
    return areas.import_area_file(session, account, file.file, file.filename, all_or_nothing)


@router.get("/export", response_class=Response,
            responses={200: {"content": {t: {} for t in areas.EXPORT_TYPES.values()}}})
def export_areas(
    session: SessionDep, account: CurrentAccount,
    format: Annotated[str, Query(pattern="^(geojson|csv|kml|gpkg)$")] = "geojson",
    crop: str | None = None, status_: StatusQuery = None, owner: str | None = None, commune: str | None = None,
    bbox: str | None = None,
) -> Response:
    """Export the areas you may see as GeoJSON, KML or GeoPackage (EPSG:4326), or CSV (boundary as WKT)."""
    commune = canonical_place(session, "commune", commune)
    stmt = areas.filtered_areas(account, crop, status_, owner, commune, bbox).order_by(GrowingArea.code)
    found = list(session.scalars(stmt).unique())
    return Response(areas.export(found, format), media_type=areas.EXPORT_TYPES[format],
                    headers={"Content-Disposition": f'attachment; filename="areas.{format}"'})


@router.get("/{code}", response_model=AreaPublic)
def read_area(area: VisibleArea) -> AreaPublic:
    """One growing area."""
    return areas.to_public(area)


@router.patch("/{code}", response_model=AreaPublic)
def update_area(area: VisibleArea, data: AreaUpdate, session: SessionDep, account: CurrentAccount) -> AreaPublic:
    """Change an area's attributes or boundary."""
    return areas.update_area(session, area, data, account)


@router.delete("/{code}", response_model=AreaPublic)
def deactivate_area(area: VisibleArea, session: SessionDep, account: CurrentAccount) -> AreaPublic:
    """Deactivate (suspend) an area; its history is kept."""
    return areas.deactivate_area(session, area, account)


@router.get("/{code}/observations", response_model=list[ObservationPublic])
def list_observations(
    area: VisibleArea, session: SessionDep, source: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0)] = 0,
    include_refused: Annotated[bool, Query(description="also the photos the quality gate refused (too dark, "
                                                       "blurred, not a plant): left out of the history by default")]
    = False,
) -> list[ObservationPublic]:
    """The area's observations, newest first (photos the quality gate refused only with include_refused=true)."""
    return areas.observations(session, area, source, limit, offset, include_refused)


@router.get("/{code}/growth")
def area_growth(area: VisibleArea, session: SessionDep, since: datetime | None = None,
                until: datetime | None = None) -> dict[str, Any]:
    """The area's growth over time, oldest first: growth score and canopy cover from photos and flights, days after
    sowing when the sowing date is recorded, links to each photo (and thumbnail) and flight (and preview)."""
    return growth.growth_series(session, area, since, until)
