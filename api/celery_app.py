"""Celery application for CROPWATCH_JOBS=celery: Redis broker, one task per drone analysis.

acks_late + reject_on_worker_lost: a worker killed in the middle of a job does not acknowledge it, so Redis hands
the job to another worker after the visibility timeout; the job body is idempotent.
"""

from __future__ import annotations

import os

from celery import Celery

from api.settings import get_settings

# the environment wins over cached settings so that a process can be pointed at a broker before first use
celery_app = Celery("cropwatch", broker=os.environ.get("CROPWATCH_REDIS_URL") or get_settings().redis_url)
celery_app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    broker_transport_options={"visibility_timeout": int(os.environ.get("CROPWATCH_CELERY_VISIBILITY_S", "3600"))},
    task_default_queue="cropwatch",
)


@celery_app.task(name="cropwatch.analyze_flight")
def analyze_flight(job_id: int) -> str:
    from api.drone_jobs import run_analysis_job

    return run_analysis_job(job_id)
