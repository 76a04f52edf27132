"""Drone flights: upload an orthomosaic for an area, follow its analysis job, download the maps."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from shapely.geometry import shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import get_session
from api.drone_jobs import flight_dir
from api.orm import Account, GrowingArea, Job, JobStatus, Role
from api.routers.areas import get_visible_area
from api.security import CurrentAccount, can_see
from api.settings import get_settings
from api.uploads import save_upload
from inference.drone import area_in_raster_crs
from inference.sensors import RasterError, sensor_profiles, validate_raster

router = APIRouter(tags=["flights"])
SessionDep = Annotated[Session, Depends(get_session)]
DOWNLOADS = {"canopy.tif": "image/tiff", "growth.tif": "image/tiff", "damage.tif": "image/tiff",
             "summary.json": "application/json", "preview.png": "image/png", "damage_overlay.png": "image/png"}


def job_public(job: Job, area_code: str | None) -> dict[str, Any]:
    base = f"/v1/jobs/{job.id}"
    done = job.status is JobStatus.succeeded
    return {
        "id": job.id, "kind": job.kind, "status": job.status.value, "progress_pct": round(job.progress_pct, 1),
        "area_code": area_code, "error": job.error, "attempts": job.attempts,
        "created_at": job.created_at.isoformat(), "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "result": job.result, "observation_id": job.observation_id,
        "files": {n: f"{base}/files/{n}" for n in DOWNLOADS} if done else {},
    }


@router.post("/v1/flights", status_code=202)
async def upload_flight(
    request: Request,
    session: SessionDep,
    account: CurrentAccount,
    file: Annotated[UploadFile, File(description="orthomosaic GeoTIFF (RGB, RGB+alpha or 16-bit multispectral)")],
    area_code: Annotated[str, Form(description="the growing area flown")],
    sensor: Annotated[str | None, Form(description="sensor profile; default: guessed from the bands")] = None,
    method: Annotated[str, Form(pattern="^(auto|index_anomaly)$")] = "auto",
) -> dict[str, Any]:
    """Upload an orthomosaic (streamed to disk, validated) and start its analysis job."""
    if account.role is Role.farmer:
        raise HTTPException(403, detail="flights are uploaded by drone operators, agronomists or admins")
    area = get_visible_area(area_code, session, account)
    if sensor is not None and sensor not in sensor_profiles():
        raise HTTPException(422, detail=f"unknown sensor {sensor!r}; known: {', '.join(sensor_profiles())}")
    settings = get_settings()
    incoming = settings.data_dir / "flights" / ".incoming" / uuid.uuid4().hex
    incoming.mkdir(parents=True)
    try:
        path = incoming / "ortho.tif"
        await run_in_threadpool(save_upload, file, path, settings.max_flight_bytes, "the orthomosaic")
        info = await run_in_threadpool(validate_raster, path, sensor)
        await run_in_threadpool(area_in_raster_crs, shape(area.boundary_geojson), info)
        job = Job(kind="drone_analysis", params={"sensor": info.sensor, "method": method,
                                                 "filename": Path(file.filename or "ortho.tif").name},
                  area_id=area.id, created_by_id=account.id)
        session.add(job)
        session.flush()
        final = flight_dir(job.id)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(incoming, final)
        job.params = {**job.params, "ortho": str(final / "ortho.tif")}
        try:
            session.commit()
        except Exception:
            shutil.rmtree(final, ignore_errors=True)
            raise
    except RasterError as exc:
        raise HTTPException(exc.status, detail=str(exc)) from exc
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    request.app.state.jobs.submit(job.id)
    return job_public(job, area.code)


def _visible_job(job_id: int, session: Session, account: Account) -> tuple[Job, GrowingArea | None]:
    job = session.get(Job, job_id)
    area = session.get(GrowingArea, job.area_id) if job is not None and job.area_id else None
    if job is None or (area is not None and not can_see(area, account)) or (area is None and account.role
                                                                            is not Role.admin):
        raise HTTPException(404, detail=f"no job {job_id} that you may see")
    return job, area


@router.get("/v1/jobs/{job_id}")
def read_job(job_id: int, session: SessionDep, account: CurrentAccount) -> dict[str, Any]:
    """A job's status, progress in %, result and download links."""
    job, area = _visible_job(job_id, session, account)
    return job_public(job, area.code if area else None)


@router.get("/v1/jobs")
def list_jobs(session: SessionDep, account: CurrentAccount, area_code: str | None = None) -> list[dict[str, Any]]:
    """Recent jobs of the areas you may see (newest first)."""
    stmt = select(Job).order_by(Job.id.desc()).limit(100)
    if area_code:
        stmt = stmt.where(Job.area_id == get_visible_area(area_code, session, account).id)
    out = []
    for job in session.scalars(stmt):
        area = session.get(GrowingArea, job.area_id) if job.area_id else None
        if area is not None and can_see(area, account):
            out.append(job_public(job, area.code))
    return out


@router.get("/v1/jobs/{job_id}/files/{name}")
def job_file(job_id: int, name: str, session: SessionDep, account: CurrentAccount) -> FileResponse:
    """Download canopy.tif, growth.tif, damage.tif (COG), summary.json or preview.png of a finished analysis."""
    job, _ = _visible_job(job_id, session, account)
    if name not in DOWNLOADS:
        raise HTTPException(404, detail=f"no file {name!r}; available: {', '.join(DOWNLOADS)}")
    if job.status is not JobStatus.succeeded:
        raise HTTPException(409, detail=f"job {job_id} is {job.status.value}; files come when it has succeeded")
    path = flight_dir(job.id) / "analysis" / name
    return FileResponse(path, media_type=DOWNLOADS[name], filename=f"job{job.id}_{name}")


@router.post("/v1/jobs/{job_id}/retry", status_code=202)
def retry_job(job_id: int, request: Request, session: SessionDep, account: CurrentAccount) -> dict[str, Any]:
    """Run a failed job again."""
    job, area = _visible_job(job_id, session, account)
    if account.role is Role.farmer:
        raise HTTPException(403, detail="farmers cannot retry analyses")
    if job.status is not JobStatus.failed:
        raise HTTPException(409, detail=f"job {job_id} is {job.status.value}; only failed jobs are retried")
    job.status, job.error, job.progress_pct = JobStatus.queued, None, 0.0
    session.commit()
    request.app.state.jobs.submit(job.id)
    return job_public(job, area.code if area else None)
