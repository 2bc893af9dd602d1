"""The transactional outbox: one ``OutboxEvent`` row per domain event, written with its change."""

import uuid

from django.db import models


class CurrentTransactionId(models.Func):
    """The writing transaction's id on PostgreSQL (``pg_current_xact_id()``), 0 elsewhere.

    Used as the database default of ``OutboxEvent.xid`` so the event feed can order events
    by commit horizon (see ``oms.events.outbox.event_feed``).
    """

    output_field = models.BigIntegerField()

    def as_sql(self, compiler, connection, **extra_context):
        return "0", []

    def as_postgresql(self, compiler, connection, **extra_context):
        return "(pg_current_xact_id()::text::bigint)", []


class OutboxEvent(models.Model):
    """One domain event, written in the same transaction as the change it describes.

    A row exists if and only if its change committed. The outbox relay
    (``oms.events.relay``) claims committed rows oldest first, hands them on and sets
    ``dispatched_at``.

    ``payload`` is JSON-safe (ids, strings, ISO datetimes). The envelope sent to receivers is
    ``{"event": {"type": type, "uuid": uuid.hex}, "payload": payload}``.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=100)  # indexed in Meta (no varchar_pattern_ops twin)
    aggregate_type = models.CharField(max_length=50)
    aggregate_id = models.BigIntegerField()
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    xid = models.BigIntegerField(db_default=CurrentTransactionId(), editable=False,
                                 help_text="Id of the transaction that wrote the event (PostgreSQL).")

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["xid", "id"], name="outbox_feed_idx"),
            models.Index(fields=["aggregate_type", "aggregate_id"]),
            models.Index(fields=["type"], name="outbox_type_idx"),
            models.Index(  # the relay's claim: undispatched rows by id
                fields=["id"],
                name="outbox_undispatched_idx",
                condition=models.Q(dispatched_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.uuid}"

    def envelope(self) -> dict:
        """Return the wire shape ``{"event": {"type", "uuid"}, "payload": {...}}``."""
        return {"event": {"type": self.type, "uuid": self.uuid.hex}, "payload": self.payload}
