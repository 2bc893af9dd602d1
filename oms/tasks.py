"""Celery tasks of webhooks and housekeeping."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from oms.outbox_relay import outbox_dispatch_many
from oms.webhooks import (
    webhook_deliver,
    webhook_deliver_due,
    webhook_due_count,
    webhook_release_held,
)

logger = logging.getLogger(__name__)

# Outbox events are handed on by the relay process (oms.outbox_relay), not by tasks.


def outbox_dispatch(*, event_id: int) -> bool:
    """Hand one outbox event on (see ``oms.outbox_relay.outbox_dispatch_many``); True if this
    call did it."""
    return bool(outbox_dispatch_many(event_ids=[event_id]))


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
