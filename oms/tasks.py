"""Celery tasks of the outbox."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from oms.models import OutboxEvent

REDISPATCH_AFTER = timedelta(minutes=2)
REDISPATCH_BATCH = 500


def outbox_dispatch(*, event_id: int) -> bool:
    """Hand one outbox event on; idempotent.

    Marks the row dispatched with a compare-and-set update, so two workers handling the
    same id hand it on once. Webhook fan-out hooks in here (events-and-webhooks issue).
    Returns True when this call did the hand-off, False when it was already done or the
    row does not exist.
    """
    updated = OutboxEvent.objects.filter(pk=event_id, dispatched_at__isnull=True).update(
        dispatched_at=timezone.now()
    )
    return bool(updated)


@shared_task(time_limit=60, soft_time_limit=50)
def outbox_dispatch_task(event_id: int) -> bool:
    return outbox_dispatch(event_id=event_id)


@shared_task(time_limit=120, soft_time_limit=100)
def outbox_dispatch_batch_task(event_ids: list[int]) -> int:
    """Hand on the events of one committed transaction; return how many this call did."""
    return sum(outbox_dispatch(event_id=event_id) for event_id in event_ids)


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
