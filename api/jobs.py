"""Where drone analysis jobs run: the service's own worker pool (CROPWATCH_JOBS=local) or Celery workers over Redis
(CROPWATCH_JOBS=celery), and the start-up recovery of interrupted jobs."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import get_engine
from api.orm import Job, JobStatus
from api.services.analysis import MAX_ATTEMPTS, run_analysis_job
from api.settings import get_settings
from inference.drone import MAP_COMPRESSIONS


class LocalJobRunner:
    """The embedded worker pool: jobs run in threads of the service process."""

    def __init__(self, workers: int = 1) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cropwatch-job")

    def submit(self, job_id: int) -> None:
        self.pool.submit(run_analysis_job, job_id)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


class CeleryJobRunner:
    """Jobs go to Redis; `cropwatch worker` processes run them (on any machine)."""

    def submit(self, job_id: int) -> None:
        from api.celery_app import analyze_flight  # the Celery app connects to Redis: only in celery mode

        analyze_flight.delay(job_id)

    def shutdown(self) -> None:
        pass


JobRunner = LocalJobRunner | CeleryJobRunner


def make_runner() -> JobRunner:
    settings = get_settings()
    return CeleryJobRunner() if settings.jobs == "celery" else LocalJobRunner(settings.job_workers)


def remove_partial_outputs() -> list[Path]:
    """Remove what a killed process left half-written: analysis work folders (`.analysis-*`), incoming uploads and
    the temporary files of a map's download copy (`analysis/deflate/.growth.tif.<hex>`, inference.drone.recompressed)."""
    flights = get_settings().data_dir / "flights"
    copies = [q for c in MAP_COMPRESSIONS for q in flights.glob(f"*/analysis/{c}/.*")]
    partial = [*flights.glob("*/analysis/.analysis-*"), *flights.glob(".incoming/*"), *copies]
    for p in partial:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return partial


def recover_jobs(runner: JobRunner) -> list[int]:
    """At start-up (local mode): remove partial outputs, then re-queue jobs left queued or running by a stopped
    service; a job that has already been tried MAX_ATTEMPTS times is marked failed (it can be retried by hand)."""
    remove_partial_outputs()
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
