"""The drone analysis job body, shared by both job modes (the service's own pool and Celery workers).

A job's row is the truth: status, progress %, result or error. The body is idempotent (outputs are written to a
temporary folder and moved into place when complete), so an interrupted job is simply run again. The raster was
validated once, at upload; what validation learnt travels in the job's parameters.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shapely.geometry import shape
from sqlalchemy import update
from sqlalchemy.orm import Session

from api.db import get_engine, new_session
from api.orm import GrowingArea, Job, JobStatus, Observation, utcnow
from api.services.area_status import note_observation
from api.services.model_registry import active_path
from api.settings import get_settings
from inference.bundle import BundleError
from inference.drone import DamageModel, analyze_orthomosaic
from inference.errors import CropwatchError, reason
from inference.previews import render_flight_previews
from inference.results import DroneSummary, JobParams, as_dict
from inference.sensors import RasterInfo, validate_raster

log = logging.getLogger("cropwatch.jobs")
MAX_ATTEMPTS = 3
_model_lock = threading.Lock()
_model_cache: dict[str, DamageModel] = {}


def load_damage_model() -> DamageModel | None:
    """The active drone_damage bundle (cached), or None when none is active."""
    try:  # resolved per job, so an activation reaches every worker at its next job
        with new_session() as session:
            path = active_path(session, "drone_damage", get_settings().models_dir)
    except BundleError:
        return None
    with _model_lock:
        if str(path) not in _model_cache:
            _model_cache.clear()
            _model_cache[str(path)] = DamageModel(path)
        return _model_cache[str(path)]


def flight_dir(job_id: int) -> Path:
    return get_settings().data_dir / "flights" / str(job_id)


def delete_flight_files(job_id: int) -> None:
    shutil.rmtree(flight_dir(job_id), ignore_errors=True)


def record_drone_observation(session: Session, area_id: int, summary: DroneSummary, out_dir: Path,
                             created_by_id: int | None = None) -> int:
    """Write a drone analysis summary to the area's record; returns the observation id."""
    data_dir = get_settings().data_dir.resolve()
    out = out_dir.resolve()
    rel = str(out.relative_to(data_dir)) if out.is_relative_to(data_dir) else str(out_dir)
    model = summary.damage_model
    obs = Observation(area_id=area_id, source="drone", scores=as_dict(summary), schema_version=summary.schema_version,
                      model_name=model.name if model else "index_anomaly", model_version=model.version if model else None,
                      file_path=rel, created_by_id=created_by_id, observed_at=utcnow())
    session.add(obs)
    area = session.get(GrowingArea, area_id)
    if area is not None:
        note_observation(area, obs)
    session.commit()
    return obs.id


def _start(job_id: int) -> tuple[JobParams, int | None, Any, int | None] | str:
    """Mark the job running; returns (params, area id, area boundary, creator) or the final status when there is
    nothing to run."""
    with Session(get_engine()) as s:
        job = s.get(Job, job_id)
        if job is None:
            return "missing"
        if job.status in (JobStatus.succeeded, JobStatus.cancelled):
            return job.status.value
        job.status, job.started_at, job.attempts = JobStatus.running, datetime.now(UTC), job.attempts + 1
        job.error, job.progress_pct = None, 0.0
        s.commit()
        area = s.get(GrowingArea, job.area_id) if job.area_id is not None else None
        boundary = shape(area.boundary_geojson) if area else None
        return JobParams.model_validate(job.params), job.area_id, boundary, job.created_by_id


class JobStopped(Exception):
    """The job was cancelled, or ran past its time limit."""


def _progress_writer(job_id: int, time_limit_s: float) -> Callable[[float], None]:
    """A progress callback (0-1) that writes the job's % at most every 2 points or 2 seconds, and stops the job
    (JobStopped) when it has been cancelled or has run past `time_limit_s`."""
    engine = get_engine()
    start = time.monotonic()
    last = [0.0, 0.0]

    def progress(f: float) -> None:
        pct, now = round(100 * f, 1), time.monotonic()
        if now - start > time_limit_s:
            raise JobStopped(f"the analysis ran past its time limit of {time_limit_s:.0f} s; split the orthomosaic")
        if pct - last[0] >= 2 or now - last[1] > 2:
            last[0], last[1] = pct, now
            with engine.begin() as conn:
                running = conn.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.running)
                                       .values(progress_pct=min(pct, 99.0))).rowcount
            if not running:
                raise JobStopped("cancelled")

    return progress


def run_analysis_job(job_id: int) -> str:
    """The job body: analyse with progress, render the previews, record the result; returns the final status.

    Errors about the input (the cropwatch error family) fail the job with their message; other errors fail it with
    the error's text.
    """
    started = _start(job_id)
    if isinstance(started, str):
        return started
    params, area_id, boundary, created_by = started
    out = flight_dir(job_id) / "analysis"
    try:
        assert params.ortho is not None, "the job has no orthomosaic"
        # validated at upload; a job stored before that carried its check is validated here, once, for both steps
        info = RasterInfo.from_check(params.ortho, params.raster) if params.raster else \
            validate_raster(params.ortho, params.sensor)
        model = load_damage_model() if params.method == "auto" else None
        progress = _progress_writer(job_id, get_settings().job_time_limit_s)
        summary = analyze_orthomosaic(params.ortho, out, sensor=params.sensor, damage_model=model,
                                      area_boundary_wgs84=boundary, progress=progress, info=info)
        render_flight_previews(params.ortho, out / "damage.tif", out, profile=info.profile)
    except JobStopped as exc:
        if str(exc) == "cancelled":
            delete_flight_files(job_id)
            return JobStatus.cancelled.value
        shutil.rmtree(out, ignore_errors=True)
        return _finish(job_id, JobStatus.failed, error=str(exc))
    except CropwatchError as exc:
        shutil.rmtree(out, ignore_errors=True)
        return _finish(job_id, JobStatus.failed, error=str(exc), error_reason=exc.reason)
    except Exception as exc:  # noqa: BLE001 - a job must end failed with a reason, never stay running
        log.exception("job %s failed", job_id)
        return _finish(job_id, JobStatus.failed, error=f"the analysis failed ({type(exc).__name__}: {reason(exc)}); "
                                                       "retry it, or report it if it fails again")
    obs_id = None
    if area_id is not None:
        with Session(get_engine()) as s:
            obs_id = record_drone_observation(s, area_id, summary, out, created_by)
    return _finish(job_id, JobStatus.succeeded, result=as_dict(summary), observation_id=obs_id)


def _finish(job_id: int, status: JobStatus, **values: Any) -> str:
    """Record the end of a running job (a job cancelled meanwhile stays cancelled)."""
    with get_engine().begin() as conn:
        conn.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.running).values(
            status=status, finished_at=datetime.now(UTC), progress_pct=100.0 if status is JobStatus.succeeded else
            Job.progress_pct, **values))
    return status.value
