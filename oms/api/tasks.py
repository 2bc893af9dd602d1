"""Celery tasks of the REST API's housekeeping."""

from __future__ import annotations

from celery import shared_task

from oms.api.idempotency import idempotency_records_purge


@shared_task(name="oms.tasks.idempotency_records_purge_task", time_limit=600, soft_time_limit=570)
def idempotency_records_purge_task() -> int:
    """Beat job (daily): forget Idempotency-Key records older than a week."""
    return idempotency_records_purge()
