"""Celery tasks of the outbox."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from oms.models import OutboxEvent
from oms.webhooks import webhook_deliver, webhook_due_delivery_ids, webhook_fan_out

REDISPATCH_AFTER = timedelta(minutes=2)
REDISPATCH_BATCH = 500


@transaction.atomic
def outbox_dispatch_many(*, event_ids: list[int]) -> int:
    """Hand outbox events on: mark them dispatched and create their webhook deliveries.

    Rows are claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` among the not yet dispatched,
    in the same transaction as the fan-out: two workers given the same ids hand each event
    on once, and a worker dying half-way leaves them for the sweeper. Returns how many this
    call handed on (0 when already done or gone).
    """
    events = list(OutboxEvent.objects.select_for_update(skip_locked=True)
                  .filter(pk__in=event_ids, dispatched_at__isnull=True).order_by("pk"))
    if not events:
        return 0
    OutboxEvent.objects.filter(pk__in=[e.pk for e in events]).update(dispatched_at=timezone.now())
    webhook_fan_out(events=events)
    return len(events)


def outbox_dispatch(*, event_id: int) -> bool:
    """Hand one outbox event on (see ``outbox_dispatch_many``); True if this call did it."""
    return bool(outbox_dispatch_many(event_ids=[event_id]))


@shared_task(time_limit=60, soft_time_limit=50)
def outbox_dispatch_task(event_id: int) -> bool:
    return outbox_dispatch(event_id=event_id)


@shared_task(time_limit=120, soft_time_limit=100)
def outbox_dispatch_batch_task(event_ids: list[int]) -> int:
    """Hand on the events of one committed transaction; return how many this call did."""
    return outbox_dispatch_many(event_ids=event_ids)


@shared_task(time_limit=120, soft_time_limit=100)
def outbox_redispatch_task() -> int:
    """Re-queue events older than ``REDISPATCH_AFTER`` still not handed on; return how many."""
    cutoff = timezone.now() - REDISPATCH_AFTER
    ids = list(
        OutboxEvent.objects.filter(dispatched_at__isnull=True, created_at__lt=cutoff)
        .order_by("id")
        .values_list("id", flat=True)[:REDISPATCH_BATCH]
    )
    if ids:
        outbox_dispatch_batch_task.delay(ids)
    return len(ids)


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
