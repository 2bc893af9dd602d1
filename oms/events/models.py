"""The transactional outbox: one ``OutboxEvent`` row per domain event, written with its change."""

import uuid

from django.db import models
from rest_framework import serializers


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
    ``envelope()``.
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
        """Return the wire shape ``{"event": {"type", "uuid", "occurred_at", "sequence"?},
        "payload": {...}}`` (``event_envelope_serializers``): ``sequence`` is the aggregate's
        version after the change, for aggregates that have one (packages, transfers)."""
        event = {"type": self.type, "uuid": self.uuid.hex, "occurred_at": self.created_at.isoformat()}
        aggregate = self.payload.get(self.aggregate_type) if isinstance(self.payload, dict) else None
        if isinstance(aggregate, dict) and isinstance(aggregate.get("version"), int):
            event["sequence"] = aggregate["version"]
        return {"event": event, "payload": self.payload}


def event_envelope_serializers(name: str, *, types: list[str], payload: type[serializers.Serializer],
                               status_types: list[str] | None = None, sequence: bool = True,
                               ) -> tuple[type[serializers.Serializer], type[serializers.Serializer]]:
    """The OpenAPI shape of one aggregate's events: ``(<name>Event, <name>FeedEvent)``.

    ``<name>Event`` is the webhook body, ``OutboxEvent.envelope()`` (``event.status_type``
    only on a delivery matched by a per-state subscription, one of ``status_types``);
    ``<name>FeedEvent`` an item of ``GET /api/v1/events/``: the envelope with its ``cursor``
    and ``created_at``.
    """
    meta_fields = {
        "type": serializers.ChoiceField(choices=types),
        "uuid": serializers.RegexField(r"^[0-9a-f]{32}$", help_text="Unique per event (32 hex "
                                                                    "digits); the webhook-id header."),
        "occurred_at": serializers.DateTimeField(help_text="When the change committed (RFC 3339)."),
    }
    if sequence:
        meta_fields["sequence"] = serializers.IntegerField(
            min_value=1, help_text="The aggregate's version after the change: order events per "
                                   "aggregate by it, skip one not newer than the last seen.")
    if status_types:
        meta_fields["status_type"] = serializers.ChoiceField(
            choices=status_types, required=False,
            help_text="Webhooks only: the per-state type the subscription matched.")
    meta = type(f"{name}EventMetaSerializer", (serializers.Serializer,), {
        **meta_fields, "__module__": __name__, "__doc__": f"What happened to the {name.lower()}."})
    envelope = type(f"{name}EventSerializer", (serializers.Serializer,), {
        "event": meta(), "payload": payload(), "__module__": __name__,
        "__doc__": f"One {name.lower()} event: ``{{\"event\": {{…}}, \"payload\": {{…}}}}``."})
    feed = type(f"{name}FeedEventSerializer", (envelope,), {
        "cursor": serializers.CharField(help_text="Pass as `after` to read the events after this one."),
        "created_at": serializers.DateTimeField(),
        "__module__": __name__, "__doc__": f"A {name.lower()} event in the event feed."})
    return envelope, feed
