"""Spray maps and the pesticide log (spray applications) of growing areas."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import get_session
from api.orm import Account, GrowingArea, Job, JobStatus, Role, SprayApplication, SprayMap
from api.routers.areas import get_visible_area
from api.schemas import SprayApplicationCreate, SprayMapCreate
from api.security import CurrentAccount, can_see
from api.spray import download_path, make_plan, parse_config, spray_dir
from inference.sensors import RasterError
from inference.spray_export import FORMATS
from inference.zones import PlanError

router = APIRouter(tags=["spray"])
SessionDep = Annotated[Session, Depends(get_session)]
MEDIA = {"geojson": "application/geo+json", "shp": "application/zip", "kml": "application/vnd.google-earth.kml+xml",
         "kmz": "application/vnd.google-earth.kmz", "gpkg": "application/geopackage+sqlite3", "dji": "application/zip",
         "isoxml": "application/zip"}


def _public(sm: SprayMap, area: GrowingArea, with_zones: bool = True) -> dict[str, Any]:
    out = {"id": sm.id, "area_code": area.code, "created_at": sm.created_at.isoformat(), "summary": sm.summary,
           "config": sm.config, "job_id": sm.job_id,
           "damage_model": {"name": sm.damage_model_name, "version": sm.damage_model_version},
           "downloads": {f: f"/v1/spray-maps/{sm.id}/download?format={f}" for f in FORMATS},
           "preview": f"/v1/spray-maps/{sm.id}/preview.png"}
    if with_zones:
        out["zones"] = sm.zones_geojson
    return out


def _require_planner(account: Account) -> None:
    if account.role is Role.farmer:
        raise HTTPException(403, detail="spray maps are made by drone operators, agronomists or admins")


def _create(session: Session, account: Account, area: GrowingArea, damage_path: str, raw_cfg: dict[str, Any],
            job: Job | None, keep_copy: bool = False) -> SprayMap:
    """Plan, then record; with keep_copy the damage raster (an upload in a temporary place) is copied next to the
    spray map's files before the record is committed (nothing is left behind if either fails)."""
    try:
        cfg = parse_config(raw_cfg)
        plan, seconds = make_plan(damage_path, area, cfg)
    except PlanError as exc:
        raise HTTPException(exc.status, detail=str(exc)) from exc
    summary = {**plan.summary, "planning_seconds": round(seconds, 3)}
    model = (job.result or {}).get("damage_model") if job else None
    sm = SprayMap(area_id=area.id, config=cfg.model_dump(mode="json"), summary=summary,
                  zones_geojson=plan.zones_geojson(), damage_path=damage_path, job_id=job.id if job else None,
                  damage_model_name=(model or {}).get("name") or ((job.result or {}).get("damage_method") if job else
                                                                 None),
                  damage_model_version=(model or {}).get("version"),
                  source_observation_id=job.observation_id if job else None, created_by_id=account.id)
    session.add(sm)
    if keep_copy:
        session.flush()
        dest = spray_dir(sm.id) / "damage.tif"
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(damage_path, dest)
            sm.damage_path = str(dest)
            session.commit()
        except Exception:
            session.rollback()
            shutil.rmtree(spray_dir(sm.id), ignore_errors=True)
            raise
        return sm
    session.commit()
    return sm


@router.post("/v1/spray-maps", status_code=201)
def create_spray_map(data: SprayMapCreate, session: SessionDep, account: CurrentAccount) -> dict[str, Any]:
    """Make a spray map from an analysed flight (its damage map and area) and a SprayPlanConfig."""
    _require_planner(account)
    job = session.get(Job, data.job_id)
    area = session.get(GrowingArea, job.area_id) if job and job.area_id else None
    if job is None or area is None or not can_see(area, account):
        raise HTTPException(404, detail=f"no analysed flight (job {data.job_id}) that you may see")
    if job.status is not JobStatus.succeeded:
        raise HTTPException(409, detail=f"job {job.id} is {job.status.value}; plan once its analysis has succeeded")
    from api.drone_jobs import flight_dir

    sm = _create(session, account, area, str(flight_dir(job.id) / "analysis" / "damage.tif"), data.config, job)
    return _public(sm, area)


@router.post("/v1/spray-maps/from-raster", status_code=201)
async def create_spray_map_from_raster(
    session: SessionDep,
    account: CurrentAccount,
    file: Annotated[UploadFile, File(description="damage raster: GeoTIFF uint8 0-100, nodata 255, any CRS")],
    area_code: Annotated[str, Form()],
    config: Annotated[str, Form(description="SprayPlanConfig as JSON")] = "{}",
) -> dict[str, Any]:
    """Make a spray map from an uploaded damage raster, an area and a SprayPlanConfig."""
    _require_planner(account)
    area = get_visible_area(area_code, session, account)
    try:
        raw = json.loads(config)
    except json.JSONDecodeError as exc:
        raise HTTPException(422, detail=f"config is not valid JSON: {exc}") from exc
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "damage.tif"
        p.write_bytes(await file.read())
        try:
            with open(p, "rb") as fh:
                if fh.read(4) not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
                    raise RasterError("the damage raster is not a GeoTIFF", 415)
            import rasterio

            with rasterio.open(p) as ds:
                if ds.crs is None:
                    raise RasterError("the damage raster has no CRS; export it with its georeference")
                if ds.count != 1 or ds.dtypes[0] != "uint8":
                    raise RasterError("the damage raster must be one band of uint8 (probability 0-100, nodata 255)")
        except RasterError as exc:
            raise HTTPException(exc.status, detail=str(exc)) from exc
        sm = _create(session, account, area, str(p), raw, None, keep_copy=True)
    return _public(sm, area)


def _visible_map(map_id: int, session: Session, account: Account) -> tuple[SprayMap, GrowingArea]:
    sm = session.get(SprayMap, map_id)
    area = session.get(GrowingArea, sm.area_id) if sm else None
    if sm is None or area is None or not can_see(area, account):
        raise HTTPException(404, detail=f"no spray map {map_id} that you may see")
    return sm, area


@router.get("/v1/spray-maps/{map_id}")
def read_spray_map(map_id: int, session: SessionDep, account: CurrentAccount) -> dict[str, Any]:
    """A spray map: summary (treated ha, litres, saving %), config, zones (GeoJSON) and download links."""
    sm, area = _visible_map(map_id, session, account)
    return _public(sm, area)


@router.get("/v1/spray-maps/{map_id}/download")
async def download_spray_map(
    map_id: int, session: SessionDep, account: CurrentAccount,
    format: Annotated[str, Query(description="geojson | shp | kml | kmz | gpkg | dji | isoxml")] = "geojson",
) -> FileResponse:
    """The spray map in a format that GDAL, QGIS, DJI tools or ISOBUS terminals import."""
    sm, area = _visible_map(map_id, session, account)
    if format not in FORMATS:
        raise HTTPException(422, detail=f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    try:
        path, seconds = await run_in_threadpool(download_path, sm, area, format)
    except (PlanError, ValueError) as exc:
        raise HTTPException(422, detail=str(exc)) from exc
    return FileResponse(path, media_type=MEDIA[format], filename=path.name,
                        headers={"X-Export-Seconds": f"{seconds:.3f}"})


@router.get("/v1/spray-maps/{map_id}/preview.png")
def spray_map_preview(map_id: int, session: SessionDep, account: CurrentAccount) -> Response:
    """A PNG of the zones coloured by rate, with the field boundary and the exclusions."""
    sm, area = _visible_map(map_id, session, account)
    png = spray_dir(sm.id) / "preview.png"
    if not png.exists():
        from api.spray_preview import render_preview

        render_preview(sm, area, png)
    return Response(png.read_bytes(), media_type="image/png")


@router.get("/v1/areas/{code}/spray-maps")
def list_spray_maps(code: str, session: SessionDep, account: CurrentAccount) -> list[dict[str, Any]]:
    """The area's spray maps, newest first (without zones)."""
    area = get_visible_area(code, session, account)
    maps = session.scalars(select(SprayMap).where(SprayMap.area_id == area.id).order_by(SprayMap.id.desc()))
    return [_public(sm, area, with_zones=False) for sm in maps]


@router.post("/v1/areas/{code}/spray-applications", status_code=201)
def record_spray_application(
    code: str, data: SprayApplicationCreate, session: SessionDep, account: CurrentAccount
) -> dict[str, Any]:
    """Record what was actually sprayed: the pesticide log of the planting-area code."""
    area = get_visible_area(code, session, account)
    if data.spray_map_id is not None:
        sm = session.get(SprayMap, data.spray_map_id)
        if sm is None or sm.area_id != area.id:
            raise HTTPException(422, detail=f"spray map {data.spray_map_id} is not a map of area {area.code}")
    app = SprayApplication(area_id=area.id, created_by_id=account.id, **data.model_dump())
    session.add(app)
    session.commit()
    return _application(app)


def _application(a: SprayApplication) -> dict[str, Any]:
    return {"id": a.id, "applied_on": a.applied_on.isoformat(), "product": a.product,
            "active_ingredient": a.active_ingredient, "dose_l_per_ha": a.dose_l_per_ha, "volume_l": a.volume_l,
            "operator": a.operator, "spray_map_id": a.spray_map_id, "notes": a.notes}


@router.get("/v1/areas/{code}/spray-applications")
def list_spray_applications(code: str, session: SessionDep, account: CurrentAccount) -> list[dict[str, Any]]:
    """The area's pesticide log, newest first."""
    area = get_visible_area(code, session, account)
    rows = session.scalars(select(SprayApplication).where(SprayApplication.area_id == area.id)
                           .order_by(SprayApplication.applied_on.desc()))
    return [_application(a) for a in rows]
