"""Celery tasks of housekeeping. The webhook tasks are defined in ``oms.webhooks`` (its
services queue them), named ``oms.tasks.*`` and imported here for Celery's autodiscovery."""

from __future__ import annotations

from celery import shared_task

from oms.idempotency import idempotency_records_purge
from oms.outbox_relay import outbox_dispatch_many
from oms.webhooks import webhook_deliver_task, webhook_retry_due_task

__all__ = ["idempotency_records_purge_task", "outbox_dispatch", "webhook_deliver_task",
           "webhook_retry_due_task"]

# Outbox events are handed on by the relay process (oms.outbox_relay), not by tasks.


def outbox_dispatch(*, event_id: int) -> bool:
    """Hand one outbox event on (see ``oms.outbox_relay.outbox_dispatch_many``); True if this
    call did it."""
    return bool(outbox_dispatch_many(event_ids=[event_id]))


@shared_task(time_limit=600, soft_time_limit=570)
def idempotency_records_purge_task() -> int:
    """Beat job (daily): forget Idempotency-Key records older than a week."""
    return idempotency_records_purge()
