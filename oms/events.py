"""Write events to the outbox inside the caller's transaction; hand them on after commit."""

from __future__ import annotations

import logging
from functools import partial

from django.db import transaction

from oms.models import OutboxEvent

logger = logging.getLogger(__name__)


def _enqueue_dispatch(event_id: int) -> None:
    from oms.tasks import outbox_dispatch_task

    try:
        outbox_dispatch_task.delay(event_id)
    except Exception as exc:  # broker down: the redispatch sweeper picks the row up later
        logger.warning("outbox event %s not enqueued (%s); the sweeper will retry", event_id, exc)


def event_publish(*, type: str, aggregate_type: str, aggregate_id: int, payload: dict) -> OutboxEvent:
    """Record one event in the outbox and queue its hand-off for after commit.

    Must run inside the transaction of the change (services are ``atomic``): on rollback the
    row disappears and the on-commit hook never fires, so nothing leaves for a change that
    did not happen.

    Args:
        type: dotted event type, e.g. ``"package.status.transitioned"``.
        aggregate_type / aggregate_id: the changed object (``"package"``, its pk).
        payload: JSON-safe dict.
    Returns the saved ``OutboxEvent``.
    """
    event = OutboxEvent.objects.create(
        type=type, aggregate_type=aggregate_type, aggregate_id=aggregate_id, payload=payload
    )
    transaction.on_commit(partial(_enqueue_dispatch, event.pk))
    return event
