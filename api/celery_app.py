"""Celery application for CROPWATCH_JOBS=celery: Redis broker, one task per drone analysis; settings from Settings.

acks_late + reject_on_worker_lost: a worker killed in the middle of a job does not acknowledge it, so Redis hands
the job to another worker after the visibility timeout; the job body is idempotent.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from api.services.analysis import run_analysis_job
from api.settings import get_settings
from inference import allocator, canopy


def make_celery() -> Celery:
    settings = get_settings()
    app = Celery("cropwatch", broker=settings.redis_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.celery_visibility_s},
        task_default_queue="cropwatch",
    )
    return app


celery_app = make_celery()


@worker_process_init.connect
def _warm_up(**_: Any) -> None:
    allocator.tune()  # the heap keeps raster windows' arrays (inference.allocator), before the first job
    canopy.warm_up()  # the canopy's colour table (0.25 s), in each worker process before its first job


@celery_app.task(name="cropwatch.analyze_flight")
def analyze_flight(job_id: int) -> str:
    return run_analysis_job(job_id)
