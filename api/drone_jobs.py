"""Drone analysis jobs: the job body (shared by both job modes), the embedded worker pool, and start-up recovery.

A job's row is the truth: status, progress %, result or error. The body is idempotent (outputs are written to a
temporary folder and moved into place when complete), so an interrupted job is simply run again.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shapely.geometry import shape
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.db import get_engine
from api.orm import GrowingArea, Job, JobStatus, Observation
from api.settings import get_settings
from inference.bundle import BundleError, active_bundle_path
from inference.drone import DamageModel, analyze_orthomosaic
from inference.sensors import RasterError

log = logging.getLogger("cropwatch.jobs")
MAX_ATTEMPTS = 3
_model_lock = threading.Lock()
_model_cache: dict[str, DamageModel] = {}


def load_damage_model() -> DamageModel | None:
    """The active drone_damage bundle (cached), or None when none is active."""
    try:
        path = active_bundle_path("drone_damage", get_settings().models_dir)
    except BundleError:
        return None
    with _model_lock:
        if str(path) not in _model_cache:
            _model_cache.clear()
            _model_cache[str(path)] = DamageModel(path)
        return _model_cache[str(path)]


def flight_dir(job_id: int) -> Path:
    return get_settings().data_dir / "flights" / str(job_id)


def record_drone_observation(area_id: int, summary: dict[str, Any], out_dir: str,
                             created_by_id: int | None = None, session: Session | None = None) -> int:
    """Write a drone analysis summary to the area's record; returns the observation id."""
    own = session is None
    session = session or Session(get_engine())
    try:
        data_dir = get_settings().data_dir
        rel = str(Path(out_dir).resolve().relative_to(data_dir.resolve())) if Path(out_dir).resolve().is_relative_to(
            data_dir.resolve()) else str(out_dir)
        model = summary.get("damage_model") or {}
        obs = Observation(area_id=area_id, source="drone", scores=summary, schema_version=summary["schema_version"],
                          model_name=model.get("name") or "index_anomaly", model_version=model.get("version"),
                          file_path=rel, created_by_id=created_by_id)
        session.add(obs)
        session.commit()
        return obs.id
    finally:
        if own:
            session.close()


def run_analysis_job(job_id: int) -> str:
    """The job body. Marks the job running, analyses with progress, records the result; returns the final status.

    Errors about the input (RasterError) fail the job with the reason; other errors fail it with the error text.
    """
    engine = get_engine()
    with Session(engine) as s:
        job = s.get(Job, job_id)
        if job is None:
            return "missing"
        if job.status is JobStatus.succeeded:
            return job.status.value
        job.status, job.started_at, job.attempts = JobStatus.running, datetime.now(UTC), job.attempts + 1
        job.error, job.progress_pct = None, 0.0
        s.commit()
        params = dict(job.params)
        area_id = job.area_id
        boundary = None
        if area_id is not None:
            area = s.get(GrowingArea, area_id)
            boundary = shape(area.boundary_geojson) if area else None
        created_by = job.created_by_id

    last = [0.0, 0.0]

    def progress(f: float) -> None:
        pct, now = round(100 * f, 1), time.monotonic()
        if pct - last[0] >= 2 or now - last[1] > 2:  # throttle database writes
            last[0], last[1] = pct, now
            with engine.begin() as conn:
                conn.execute(update(Job).where(Job.id == job_id).values(progress_pct=min(pct, 99.0)))

    out = flight_dir(job_id) / "analysis"
    try:
        model = load_damage_model() if params.get("method", "auto") == "auto" else None
        summary = analyze_orthomosaic(params["ortho"], out, sensor=params.get("sensor"), damage_model=model,
                                      area_boundary_wgs84=boundary, progress=progress)
        _preview(params["ortho"], out)
    except RasterError as exc:
        return _finish(job_id, JobStatus.failed, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a job must end failed with a reason, never stay running
        log.exception("job %s failed", job_id)
        return _finish(job_id, JobStatus.failed, error=f"{type(exc).__name__}: {exc}")
    with Session(engine) as s:
        obs_id = record_drone_observation(area_id, summary, str(out), created_by, s) \
            if area_id is not None else None
    return _finish(job_id, JobStatus.succeeded, result=summary, observation_id=obs_id)


def _finish(job_id: int, status: JobStatus, **values: Any) -> str:
    with get_engine().begin() as conn:
        conn.execute(update(Job).where(Job.id == job_id).values(
            status=status, finished_at=datetime.now(UTC), progress_pct=100.0 if status is JobStatus.succeeded else
            Job.progress_pct, **values))
    return status.value


def _preview(ortho: str, out: Path, max_side: int = 1024) -> None:
    """PNG preview: the orthomosaic with damage (probability >= 50 %) in magenta, at most 1024 px."""
    import cv2
    import numpy as np
    import rasterio
    from rasterio.enums import Resampling

    with rasterio.open(ortho) as src:
        s = min(1.0, max_side / max(src.width, src.height))
        h, w = max(1, round(src.height * s)), max(1, round(src.width * s))
        bands = [1, 2, 3] if src.count >= 3 else [1, 1, 1]
        rgb = src.read(bands, out_shape=(3, h, w), resampling=Resampling.average).astype(np.float32)
        if src.dtypes[0] != "uint8":
            rgb = rgb / max(float(np.percentile(rgb, 99)), 1.0) * 255
    with rasterio.open(out / "damage.tif") as d:
        dmg = d.read(1, out_shape=(h, w), resampling=Resampling.nearest)
    img = np.clip(rgb, 0, 255).astype(np.uint8).transpose(1, 2, 0).copy()
    m = (dmg >= 50) & (dmg != 255)
    img[m] = (0.4 * img[m] + 0.6 * np.array([255, 0, 255])).astype(np.uint8)
    tmp = out / "preview.part.png"
    cv2.imwrite(str(tmp), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    tmp.replace(out / "preview.png")
    # overlay for web maps: transparent below 20 %, then yellow to red with opacity rising with the probability
    p = np.where(dmg == 255, 0, dmg).astype(np.float32) / 100
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 1] = np.clip(255 * (1 - p) * 1.6, 0, 255).astype(np.uint8)
    rgba[..., 3] = np.where(p >= 0.2, np.clip(80 + 175 * p, 0, 255), 0).astype(np.uint8)
    tmp = out / "damage_overlay.part.png"
    cv2.imwrite(str(tmp), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    tmp.replace(out / "damage_overlay.png")


class LocalJobRunner:
    """The embedded worker pool (CROPWATCH_JOBS=local): jobs run in threads of the service process."""

    def __init__(self, workers: int = 1) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cropwatch-job")

    def submit(self, job_id: int) -> None:
        self.pool.submit(run_analysis_job, job_id)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


class CeleryJobRunner:
    """CROPWATCH_JOBS=celery: jobs go to Redis; `cropwatch worker` processes run them (on any machine)."""

    def submit(self, job_id: int) -> None:
        from api.celery_app import analyze_flight

        analyze_flight.delay(job_id)

    def shutdown(self) -> None:
        pass


def make_runner() -> LocalJobRunner | CeleryJobRunner:
    settings = get_settings()
    return CeleryJobRunner() if settings.jobs == "celery" else LocalJobRunner(settings.job_workers)


def recover_jobs(runner: LocalJobRunner | CeleryJobRunner) -> list[int]:
    """At start-up (local mode): re-queue jobs left queued or running by a stopped service; a job that has already
    been tried MAX_ATTEMPTS times is marked failed (it can be retried by hand)."""
    requeued = []
    with Session(get_engine()) as s:
        for job in s.scalars(select(Job).where(Job.status.in_([JobStatus.queued, JobStatus.running]))):
            if job.attempts >= MAX_ATTEMPTS:
                job.status, job.error = JobStatus.failed, f"interrupted {job.attempts} times; retry it"
            else:
                job.status = JobStatus.queued
                requeued.append(job.id)
        s.commit()
    for job_id in requeued:
        runner.submit(job_id)
    return requeued


def delete_flight_files(job_id: int) -> None:
    shutil.rmtree(flight_dir(job_id), ignore_errors=True)
