"""Celery tasks of the outbox."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from oms.models import OutboxEvent
from oms.webhooks import (
    webhook_deliver,
    webhook_deliver_due,
    webhook_due_count,
    webhook_fan_out,
    webhook_release_held,
)

logger = logging.getLogger(__name__)

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


WEBHOOK_RETRY_PER_RUN = 100  # due deliveries per parallel run the beat asks for


@shared_task(time_limit=120, soft_time_limit=100)
def webhook_retry_due_task(parallel: bool = True) -> int:
    """Beat job: send the due deliveries (retries, lost hand-offs, attempts whose worker
    died, resumed backlogs), longest due first, for one beat interval (at most 60 s).

    With a backlog it first queues up to ``WEBHOOK_RETRY_CONCURRENCY`` - 1 more runs
    (one per ``WEBHOOK_RETRY_PER_RUN`` due deliveries), which claim deliveries one by one
    alongside it. Runs end within an interval, so deliveries queued by new events wait
    behind at most that. Returns how many attempts this run made.
    """
    seconds = min(float(settings.WEBHOOK_RETRY_BEAT_SECONDS), 60.0)
    if parallel:
        webhook_release_held()
        most = max(int(settings.WEBHOOK_RETRY_CONCURRENCY), 1)
        due = webhook_due_count(limit=most * WEBHOOK_RETRY_PER_RUN)
        for _ in range(min(most, -(-due // WEBHOOK_RETRY_PER_RUN)) - 1):
            try:
                webhook_retry_due_task.apply_async((False,), retry=False)
            except Exception as exc:  # broker down: this run still sends
                logger.warning("webhook retry run not queued (%s)", exc)
                break
    return webhook_deliver_due(seconds=seconds)


@shared_task(time_limit=600, soft_time_limit=570)
def idempotency_records_purge_task() -> int:
    """Beat job (daily): forget Idempotency-Key records older than a week."""
    from oms.idempotency import idempotency_records_purge

    return idempotency_records_purge()
