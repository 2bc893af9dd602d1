"""The beat heartbeat: proof, kept in the database, that the one Celery beat is running.

Beat schedules ``beat_heartbeat_task`` every ``BEAT_HEARTBEAT_SECONDS``. When beat hands it
to the broker, the receiver below (Celery's ``after_task_publish``, in beat's own process)
stamps the ``heartbeat``/``beat`` run record; the worker that runs it stamps
``heartbeat``/``worker``. ``/readyz`` reads the beat stamp from the shared database, so any
web machine can tell whether beat is alive, and ``/metrics`` shows both.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import after_task_publish
from django.db import DatabaseError, close_old_connections, connection

from oms.observability.jobs import job_run_record

logger = logging.getLogger(__name__)

HEARTBEAT_TASK = "oms.tasks.beat_heartbeat_task"
HEARTBEAT_JOB = "heartbeat"  # JobRun.job; the key is "beat" or "worker"


@shared_task(name=HEARTBEAT_TASK, time_limit=30, soft_time_limit=25)
def beat_heartbeat_task() -> None:
    """Beat job (every ``BEAT_HEARTBEAT_SECONDS``): a worker took the heartbeat; stamp it."""
    job_run_record(job=HEARTBEAT_JOB, key="worker")


@after_task_publish.connect(sender=HEARTBEAT_TASK, weak=False)
def beat_heartbeat_sent(sender=None, **kwargs) -> None:
    """The heartbeat reached the broker (in the process that sent it: beat): stamp ``beat``.

    Beat runs no request or task around this, so the connection is checked before (a dropped
    one is replaced) and handed back after; a database error is logged, never raised into beat.
    """
    outside_transaction = not connection.in_atomic_block
    try:
        if outside_transaction:
            close_old_connections()
        job_run_record(job=HEARTBEAT_JOB, key="beat")
    except DatabaseError as exc:
        logger.warning("beat heartbeat not recorded (%s)", exc)
    finally:
        if outside_transaction:
            close_old_connections()
