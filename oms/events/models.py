"""The transactional outbox: one ``OutboxEvent`` row per domain event, written with its change."""

import datetime as dt
import uuid

from django.db import models
from rest_framework import serializers

from oms.events.types import status_event_type


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


class EventTypeStyle(models.TextChoices):
    """How a transition's type is named in its envelope.

    ``transitioned``: ``type`` is ``"package.status.transitioned"`` and ``status_type`` the
    new state's ``"package.status.shipped"``. ``per_state``: ``type`` is
    ``"package.status.shipped"`` too (receivers written for Akinon OMS's per-state events).
    """

    TRANSITIONED = "transitioned", "transitioned (type package.status.transitioned, status_type per state)"
    PER_STATE = "per_state", "per state (type package.status.<state>)"


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

    @property
    def status_type(self) -> str | None:
        """The per-state type of a ``<x>.status.transitioned`` event
        (``"package.status.shipped"``), from the payload's new state; None for other events."""
        prefix, _, last = self.type.rpartition(".status.")
        if not prefix or last != "transitioned" or not isinstance(self.payload, dict):
            return None
        slug = ((self.payload.get("transition") or {}).get("to_status") or {}).get("slug")
        return status_event_type(prefix, slug) if isinstance(slug, str) and slug else None

    @property
    def sequence(self) -> int | None:
        """The changed object's version after the change (``payload[<aggregate>]["version"]``);
        None for objects without a version (stock locations)."""
        body = self.payload.get(self.aggregate_type) if isinstance(self.payload, dict) else None
        version = body.get("version") if isinstance(body, dict) else None
        return version if isinstance(version, int) and not isinstance(version, bool) else None

    def envelope(self, *, style: str = EventTypeStyle.TRANSITIONED) -> dict:
        """Return the wire shape of the event, for webhooks and the event feed::

            {"event": {"type", "uuid", "occurred_at", "sequence", "status_type"?},
             "payload": {...}}

        ``occurred_at``: when the change was made (its event row was written, in the
        change's transaction), RFC 3339 UTC (``"2026-05-01T12:00:00.123456Z"``).
        ``sequence``: see ``sequence``; per object, higher is later. ``status_type`` only
        for transitions; with ``style`` ``per_state`` a transition's ``type`` is its
        ``status_type`` as well. Described for OpenAPI by ``event_envelope_serializers``.
        """
        status_type = self.status_type
        event = {
            "type": status_type if status_type and style == EventTypeStyle.PER_STATE else self.type,
            "uuid": self.uuid.hex,
            "occurred_at": self.created_at.astimezone(dt.UTC).isoformat(timespec="microseconds")
            .replace("+00:00", "Z"),
            "sequence": self.sequence,
        }
        if status_type:
            event["status_type"] = status_type
        return {"event": event, "payload": self.payload}


def event_envelope_serializers(name: str, *, types: list[str], payload: type[serializers.Serializer],
                               status_types: list[str] | None = None, versioned: bool = True,
                               ) -> tuple[type[serializers.Serializer], type[serializers.Serializer]]:
    """The OpenAPI shape of one aggregate's events: ``(<name>Event, <name>FeedEvent)``.

    ``<name>Event`` is ``OutboxEvent.envelope()``, the webhook body: ``event.type`` one of
    ``types``, ``event.status_type`` (transitions) one of ``status_types``, ``sequence`` an
    integer (``versioned``) or null. ``<name>FeedEvent`` is an item of
    ``GET /api/v1/events/``: the envelope with its ``cursor`` and ``created_at``.
    """
    meta_fields = {
        "type": serializers.ChoiceField(choices=types),
        "uuid": serializers.RegexField(r"^[0-9a-f]{32}$", help_text="Unique per event (32 hex "
                                                                    "digits); the webhook-id header."),
        "occurred_at": serializers.DateTimeField(help_text="When the change was made (RFC 3339, UTC)."),
        "sequence": serializers.IntegerField(
            min_value=1, help_text="The object's version after the change: per object, higher is "
                                   "later; skip an event not newer than the last one applied.")
        if versioned else serializers.IntegerField(allow_null=True, help_text="Always null: "
                                                   "stock locations have no version."),
    }
    if status_types:
        meta_fields["status_type"] = serializers.ChoiceField(
            choices=status_types, required=False,
            help_text="For a transition: the type of its new state (`<x>.status.<slug>`).")
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
