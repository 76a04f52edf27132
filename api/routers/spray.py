"""Spray maps and the pesticide log (spray applications) of growing areas."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from api.deps import CurrentAccount, IdPath, PlannerAccount, SessionDep, VisibleArea, visible_area
from api.errors import ERROR_RESPONSES
from api.schemas import (
    PermittedProductPublic,
    SprayApplicationCreate,
    SprayApplicationPublic,
    SprayMapCreate,
    SprayMapPublic,
)
from api.services import products, spray_maps
from api.settings import get_settings
from api.uploads import save_upload
from inference.errors import BadInput, reason
from inference.spray_export import EXPORT_FORMATS
from inference.zones import validate_damage_raster

router = APIRouter(tags=["spray"], responses=ERROR_RESPONSES)


@router.post("/v1/spray-maps", response_model=SprayMapPublic, status_code=201)
def create_spray_map(data: SprayMapCreate, session: SessionDep, account: PlannerAccount) -> SprayMapPublic:
    """Make a spray map from an analysed flight (its damage map and area) and a SprayPlanConfig."""
    return spray_maps.create_from_job(session, account, data.job_id, data.config, data.boundary)


@router.post("/v1/spray-maps/from-raster", response_model=SprayMapPublic, status_code=201)
def create_spray_map_from_raster(
    session: SessionDep,
    account: PlannerAccount,
    file: Annotated[UploadFile, File(description="damage raster: GeoTIFF uint8 0-100, nodata 255, any CRS")],
    area_code: Annotated[str, Form()],
    config: Annotated[str, Form(description="SprayPlanConfig as JSON")] = "{}",
    boundary: Annotated[str | None, Form(description="the operator's field boundary (GeoJSON, EPSG:4326)")] = None,
) -> SprayMapPublic:
    """Make a spray map from an uploaded damage raster, an area and a SprayPlanConfig."""
    area = visible_area(session, account, area_code)
    raw, field = _json_form(config, "config"), _json_form(boundary, "boundary") if boundary else None
    tmp = Path(tempfile.mkdtemp(prefix="cropwatch-damage-"))
    try:
        path = tmp / "damage.tif"
        save_upload(file.file, path, get_settings().max_upload_bytes, "the damage raster")
        validate_damage_raster(path)
        return spray_maps.create_from_raster(session, account, area, path, raw, field)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _json_form(text: str, what: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{what} is not valid JSON: {reason(exc)}") from exc
    if not isinstance(value, dict):
        raise BadInput(f"{what} must be a JSON object")
    return value


@router.get("/v1/spray-maps/{map_id:int}", response_model=SprayMapPublic)
def read_spray_map(map_id: IdPath, session: SessionDep, account: CurrentAccount) -> SprayMapPublic:
    """A spray map: summary (treated ha, litres, saving %), config, zones (GeoJSON) and download links."""
    sm, area = spray_maps.visible_map(session, account, map_id)
    return spray_maps.to_public(sm, area)


@router.get("/v1/spray-maps/{map_id:int}/download", response_class=FileResponse)
async def download_spray_map(
    map_id: IdPath, session: SessionDep, account: CurrentAccount,
    format: Annotated[str, Query(description="geojson | shp | kml | kmz | gpkg | dji | isoxml")] = "geojson",
) -> FileResponse:
    """The spray map in a format that GDAL, QGIS, DJI tools or ISOBUS terminals import."""
    sm, area = spray_maps.visible_map(session, account, map_id)
    path = await run_in_threadpool(spray_maps.download_path, session, sm, area, format)
    return FileResponse(path, media_type=EXPORT_FORMATS[format].media_type, filename=path.name)


@router.get("/v1/spray-maps/{map_id:int}/preview.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
def spray_map_preview(map_id: IdPath, session: SessionDep, account: CurrentAccount) -> Response:
    """A PNG of the zones coloured by rate, with the field boundary."""
    sm, area = spray_maps.visible_map(session, account, map_id)
    return Response(spray_maps.preview_path(sm, area).read_bytes(), media_type="image/png")


@router.get("/v1/areas/{code}/spray-maps", response_model=list[SprayMapPublic])
def list_spray_maps(area: VisibleArea, session: SessionDep) -> list[SprayMapPublic]:
    """The area's spray maps, newest first (without zones)."""
    return spray_maps.list_maps(session, area)


@router.post("/v1/areas/{code}/spray-applications", response_model=SprayApplicationPublic, status_code=201,
             responses={200: {"model": SprayApplicationPublic, "description": "seen before (idempotency key)"}})
def record_spray_application(area: VisibleArea, data: SprayApplicationCreate, session: SessionDep,
                             account: CurrentAccount, response: Response,
                             idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
                             ) -> SprayApplicationPublic:
    """Record what was actually sprayed (the pesticide log of the planting-area code), checked against the
    permitted-products list; `warnings` says what a check found (dose, pre-harvest interval, sample list)."""
    record, created = spray_maps.record_application(session, account, area, data, idempotency_key)
    if not created:
        response.status_code = 200
    return record


@router.get("/v1/products", response_model=list[PermittedProductPublic])
def list_products(session: SessionDep, account: CurrentAccount, q: str | None = Query(default=None, max_length=100),
                  ) -> list[PermittedProductPublic]:
    """The permitted-products list (trade name or active ingredient containing `q`), at most 50."""
    products.ensure_sample(session)
    return [PermittedProductPublic.model_validate(p) for p in products.search(session, q)]


@router.get("/v1/areas/{code}/spray-applications", response_model=list[SprayApplicationPublic])
def list_spray_applications(area: VisibleArea, session: SessionDep) -> list[SprayApplicationPublic]:
    """The area's pesticide log, newest first."""
    return spray_maps.list_applications(session, area)
