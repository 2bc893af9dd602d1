"""Celery tasks of webhooks and housekeeping."""

from __future__ import annotations

from celery import shared_task

from oms.outbox_relay import outbox_dispatch_many
from oms.webhooks import webhook_deliver, webhook_due_delivery_ids

# Outbox events are handed on by the relay process (oms.outbox_relay), not by tasks.


def outbox_dispatch(*, event_id: int) -> bool:
    """Hand one outbox event on (see ``oms.outbox_relay.outbox_dispatch_many``); True if this
    call did it."""
    return bool(outbox_dispatch_many(event_ids=[event_id]))


@shared_task(acks_late=True, time_limit=120, soft_time_limit=100)
def webhook_deliver_task(delivery_id: int) -> str:
    """One attempt of one webhook delivery (retries are scheduled by the service)."""
    return webhook_deliver(delivery_id=delivery_id)


@shared_task(time_limit=120, soft_time_limit=100)
def webhook_retry_due_task() -> int:
    """Beat job: queue the deliveries whose next attempt is due (retries, lost hand-offs,
    attempts whose worker died). Returns how many were queued."""
    ids = webhook_due_delivery_ids()
    for delivery_id in ids:
        webhook_deliver_task.delay(delivery_id)
    return len(ids)


@shared_task(time_limit=600, soft_time_limit=570)
def idempotency_records_purge_task() -> int:
    """Beat job (daily): forget Idempotency-Key records older than a week."""
    from oms.idempotency import idempotency_records_purge

    return idempotency_records_purge()
