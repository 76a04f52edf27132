"""The department's base map (`/map/`): areas by latest status and the outbreak layer, as clustered GeoJSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import DepartmentAccount, SessionDep
from api.errors import ERROR_RESPONSES
from api.services import basemap

router = APIRouter(prefix="/v1/map", tags=["base map"], responses=ERROR_RESPONSES)
BboxQuery = Annotated[str, Query(description="the view: min_lon,min_lat,max_lon,max_lat in degrees",
                                 examples=["105.8,9.4,106.2,9.8"])]
ZoomQuery = Annotated[int, Query(ge=0, le=22, description="web-map zoom of the view")]
Filter = Annotated[str | None, Query(max_length=100)]


@router.get("/areas")
def map_areas(session: SessionDep, account: DepartmentAccount, bbox: BboxQuery, zoom: ZoomQuery,
              commune: Filter = None, crop: Filter = None, season: Filter = None) -> dict[str, Any]:
    """The areas in view with their latest status (growth, damage, last diagnosis and SES): polygons from zoom 13
    when the view holds at most 2,000 areas, otherwise clusters with counts (GeoJSON, EPSG:4326)."""
    return basemap.area_layer(session, account, basemap.View.parse(bbox, zoom), commune, crop, season)


@router.get("/outbreaks")
def map_outbreaks(session: SessionDep, account: DepartmentAccount, bbox: BboxQuery, zoom: ZoomQuery,
                  days: Annotated[int, Query(ge=1, le=365)] = 14, disease: Filter = None, commune: Filter = None,
                  crop: Filter = None, season: Filter = None) -> dict[str, Any]:
    """Photo diagnoses of the last `days` days (14 by default) by disease, clustered: photos, areas, highest SES."""
    return basemap.outbreak_layer(session, account, basemap.View.parse(bbox, zoom), days, disease, commune, crop,
                                  season)


@router.get("/filters")
def map_filters(session: SessionDep, account: DepartmentAccount) -> dict[str, Any]:
    """The communes, crops and seasons you may filter by, and `crop_names`: crop -> {vi, en} where known."""
    return basemap.filters(session, account)
