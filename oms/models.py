"""Shared model pieces: timestamps and the transactional outbox."""

import uuid

from django.db import models


class TimeStampedModel(models.Model):
    """Abstract base adding ``created_at`` / ``updated_at`` (timezone-aware UTC)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class OutboxEvent(models.Model):
    """One domain event, written in the same transaction as the change it describes.

    A row exists if and only if its change committed. After commit it is handed to Celery
    (``oms.tasks.outbox_dispatch_task``), which sets ``dispatched_at``; the beat job
    ``outbox_redispatch_task`` re-queues rows whose hand-off was lost.

    ``payload`` is JSON-safe (ids, strings, ISO datetimes). The envelope sent to receivers is
    ``{"event": {"type": type, "uuid": uuid.hex}, "payload": payload}``.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=100, db_index=True)
    aggregate_type = models.CharField(max_length=50)
    aggregate_id = models.BigIntegerField()
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["aggregate_type", "aggregate_id"]),
            models.Index(
                fields=["created_at"],
                name="outbox_undispatched_idx",
                condition=models.Q(dispatched_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.uuid}"

    def envelope(self) -> dict:
        """Return the wire shape ``{"event": {"type", "uuid"}, "payload": {...}}``."""
        return {"event": {"type": self.type, "uuid": self.uuid.hex}, "payload": self.payload}
