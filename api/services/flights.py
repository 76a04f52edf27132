"""Drone flights: an uploaded orthomosaic is validated once, moved into place and becomes an analysis job; jobs are
read, listed, retried and their files served."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from shapely.geometry import shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.orm import Account, GrowingArea, Job, JobStatus, Role
from api.schemas import JobPublic
from api.security import can_see
from api.services.analysis import delete_flight_files, flight_dir
from api.settings import get_settings
from api.uploads import save_upload
from inference.drone import area_in_raster_crs, recompressed
from inference.errors import BadInput, Conflict, Forbidden, NotFound
from inference.results import DroneSummary, JobParams
from inference.sensors import RasterInfo, sensor_profiles, validate_raster
from inference.tiles import LAYERS, render_tile

DOWNLOADS = {"canopy.tif": "image/tiff", "growth.tif": "image/tiff", "damage.tif": "image/tiff",
             "summary.json": "application/json", "preview.png": "image/png", "damage_overlay.png": "image/png"}


def public_params(params: dict) -> JobParams | None:
    """The job's parameters as shown to users: the stored orthomosaic's path relative to the service's data folder
    (the server's own folders are nobody's business)."""
    if not params:
        return None
    out = JobParams.model_validate(params)
    if out.ortho:
        ortho, root = Path(out.ortho), get_settings().data_dir
        for o, r in ((ortho, root), (ortho.resolve(), root.resolve())):  # as stored; else past any symlink
            if o.is_relative_to(r):
                out.ortho = o.relative_to(r).as_posix()
                break
        else:
            out.ortho = ortho.name
    return out


def to_public(job: Job, area_code: str | None) -> JobPublic:
    done = job.status is JobStatus.succeeded
    return JobPublic(
        id=job.id, kind=job.kind, status=job.status.value, progress_pct=round(job.progress_pct, 1),
        area_code=area_code, error=job.error, error_reason=job.error_reason,
        attempts=job.attempts, created_at=job.created_at,
        finished_at=job.finished_at, params=public_params(job.params),
        result=DroneSummary.model_validate(job.result) if job.result else None, observation_id=job.observation_id,
        files={n: f"/v1/jobs/{job.id}/files/{n}" for n in DOWNLOADS} if done else {})


def create_flight_job(session: Session, account: Account, area: GrowingArea, stream: BinaryIO, filename: str | None,
                      sensor: str | None, method: str) -> Job:
    """Stream the upload to disk, validate it (once: the result travels with the job), check it overlaps the area,
    and record the job with the file moved to the job's folder. Nothing is left behind when any step fails."""
    if sensor is not None and sensor not in sensor_profiles():
        raise BadInput(f"unknown sensor {sensor!r}; known: {', '.join(sensor_profiles())}",
                       reason="raster_unknown_sensor")
    settings = get_settings()
    incoming = settings.data_dir / "flights" / ".incoming" / uuid.uuid4().hex
    incoming.mkdir(parents=True)
    try:
        path = incoming / "ortho.tif"
        save_upload(stream, path, settings.max_flight_bytes, "the orthomosaic")
        info = validate_raster(path, sensor, settings.max_flight_pixels)
        area_in_raster_crs(shape(area.boundary_geojson), info)
        check = info.to_check()  # before anything is moved: a failure here leaves nothing behind
        job = Job(kind="drone_analysis", area_id=area.id, created_by_id=account.id, params={})
        session.add(job)
        session.flush()
        final = flight_dir(job.id)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(incoming, final)
        try:
            job.params = JobParams(sensor=info.sensor, method=method, filename=Path(filename or "ortho.tif").name,
                                   ortho=str(final / "ortho.tif"), raster=check).model_dump(mode="json")
            session.commit()
        except Exception:
            shutil.rmtree(final, ignore_errors=True)
            raise
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    return job


def visible_job(session: Session, account: Account, job_id: int) -> tuple[Job, GrowingArea | None]:
    job = session.get(Job, job_id)
    area = session.get(GrowingArea, job.area_id) if job is not None and job.area_id else None
    hidden = job is None or (area is not None and not can_see(area, account)) or \
        (area is None and account.role is not Role.admin)
    if hidden or job is None:
        raise NotFound(f"no job {job_id} that you may see")
    return job, area


def list_jobs(session: Session, account: Account, area: GrowingArea | None) -> list[JobPublic]:
    """Recent jobs (at most 100) of the areas `account` may see, newest first."""
    stmt = select(Job).order_by(Job.id.desc()).limit(100)
    if area is not None:
        stmt = stmt.where(Job.area_id == area.id)
    out = []
    for job in session.scalars(stmt):
        a = session.get(GrowingArea, job.area_id) if job.area_id else None
        if a is not None and can_see(a, account):
            out.append(to_public(job, a.code))
    return out


MAPS = ("canopy.tif", "growth.tif", "damage.tif")


def job_file(job: Job, name: str, compression: str | None = None) -> Path:
    """A finished analysis' file; a map (MAPS) in `compression` (inference.drone.MAP_COMPRESSIONS) when given: the
    stored map when it is so compressed already, else a copy made on the first such download and kept beside it."""
    if name not in DOWNLOADS:
        raise NotFound(f"no file {name!r}; available: {', '.join(DOWNLOADS)}")
    if job.status is not JobStatus.succeeded:
        raise Conflict(f"job {job.id} is {job.status.value}; files come when it has succeeded")
    path = flight_dir(job.id) / "analysis" / name
    if compression is None or name not in MAPS:
        return path
    return recompressed(path, path.parent / compression / name, compression)


def tile(job: Job, layer: str, z: int, x: int, y: int) -> bytes:
    """A 256 px PNG map tile of the flight's orthomosaic (once uploaded) or of an analysis map (once analysed)."""
    if layer not in LAYERS:
        raise NotFound(f"no layer {layer!r}; layers: {', '.join(LAYERS)}")
    if not (0 <= z <= 24 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise NotFound(f"no tile {z}/{x}/{y}: zoom 0-24, x and y 0 to 2^zoom - 1")
    params = JobParams.model_validate(job.params) if job.params else None
    if params is None or params.ortho is None:
        raise NotFound(f"job {job.id} has no orthomosaic")
    if layer == "ortho":
        # the bands where validation placed them and the bit depth it read (a BGR export was drawn blue for red)
        profile = RasterInfo.from_check(params.ortho, params.raster).profile if params.raster and \
            params.raster.sensor in sensor_profiles() else sensor_profiles().get(params.sensor or "")
        if profile is None:
            raise NotFound(f"job {job.id} has no known sensor profile for its orthomosaic")
        return render_tile(params.ortho, layer, z, x, y, profile)
    return render_tile(job_file(job, f"{layer}.tif"), layer, z, x, y)


def requeue_failed(session: Session, account: Account, job: Job) -> None:
    if account.role is Role.farmer:
        raise Forbidden("farmers cannot retry analyses")
    if job.status is not JobStatus.failed:
        raise Conflict(f"job {job.id} is {job.status.value}; only failed jobs are retried")
    job.status, job.error, job.progress_pct = JobStatus.queued, None, 0.0
    session.commit()


def cancel(session: Session, account: Account, job: Job) -> None:
    """Stop a queued or running job: it is marked cancelled at once; a queued job's files are removed now, a running
    one stops at its next window (local pool or Celery worker alike) and removes its files."""
    if account.role is Role.farmer:
        raise Forbidden("farmers cannot cancel analyses")
    if job.status not in (JobStatus.queued, JobStatus.running):
        raise Conflict(f"job {job.id} is {job.status.value}; only queued or running jobs can be cancelled")
    was_queued = job.status is JobStatus.queued
    job.status, job.error = JobStatus.cancelled, f"cancelled by {account.username}"
    session.commit()
    if was_queued:
        delete_flight_files(job.id)
