"""Shared model pieces: timestamps, the transactional outbox, API tokens, idempotency records,
webhook subscriptions and deliveries."""

import base64
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class TimeStampedModel(models.Model):
    """Abstract base adding ``created_at`` / ``updated_at`` (timezone-aware UTC)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class CurrentTransactionId(models.Func):
    """The writing transaction's id on PostgreSQL (``pg_current_xact_id()``), 0 elsewhere.

    Used as the database default of ``OutboxEvent.xid`` so the event feed can order events
    by commit horizon (see ``oms.events.event_feed``).
    """

    output_field = models.BigIntegerField()

    def as_sql(self, compiler, connection, **extra_context):
        return "0", []

    def as_postgresql(self, compiler, connection, **extra_context):
        return "(pg_current_xact_id()::text::bigint)", []


class OutboxEvent(models.Model):
    """One domain event, written in the same transaction as the change it describes.

    A row exists if and only if its change committed. The outbox relay
    (``oms.outbox_relay``) claims committed rows oldest first, hands them on and sets
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


# --- REST API (issue 5): tokens and idempotency records --------------------------------------



class ApiToken(models.Model):
    """An integrator's API key: one Django user, a scope of stock locations, read or read-write.

    Only a SHA-256 hash of the key is stored (``key_hash``); the key itself is shown once,
    when the token is created (admin or ``manage.py create_api_token``). ``key_prefix`` (the
    first 8 characters) identifies a token in lists and logs.

    Scope: ``all_locations`` or the ``locations`` set. Packages, transfers, stock and
    locations outside the scope answer 404, as if they did not exist. ``is_read_only``
    tokens may only read (a write answers 403). Revoke with ``is_active = False`` (servers
    remember tokens for ``API_TOKEN_CACHE_SECONDS``: see ``oms.api_tokens``).
    """

    name = models.CharField(max_length=100, help_text="Who uses the key, e.g. 'ERP sync'.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens",
        help_text="Actions run as this user (actor kind 'api').",
    )
    key_prefix = models.CharField(max_length=8, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    all_locations = models.BooleanField(
        default=False, help_text="Scope: every stock location (the list below is ignored)."
    )
    locations = models.ManyToManyField(
        "locations.StockLocation", blank=True, related_name="api_tokens",
        help_text="Scope: these stock locations only (unless 'all locations' is set).",
    )
    is_read_only = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"


class IdempotencyRecord(models.Model):
    """The first response to a POST sent with an ``Idempotency-Key`` header, for replay.

    One row per (token, key). ``request_hash`` fingerprints method, path and JSON body: the
    same key with another fingerprint answers 422. For single-transaction endpoints the row
    is inserted and completed in the transaction of the action itself, so it exists if and
    only if the action committed; concurrent duplicates wait on the unique index and then
    replay. Bulk endpoints (one transaction per package) complete the row at the end and
    keep per-package outcomes in ``IdempotencyItem`` rows, so an interrupted run resumes
    instead of acting twice; ``lease_until`` tells a retry whether a run is still going.
    """

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # The rendered JSON text, not a JSONField: a replay must send the very same bytes
    # (PostgreSQL's jsonb would reorder keys).
    response_body = models.TextField(blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["token", "key"], name="idempotency_token_key_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"


class IdempotencyItem(models.Model):
    """The outcome for one entry of a bulk request, written in the transaction that acted on it.

    ``position`` is the entry's index in the request body; the unique constraint means an
    entry acts at most once per idempotency record, even when two runs overlap.
    """

    record = models.ForeignKey(IdempotencyRecord, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    result = models.JSONField()

    class Meta:
        ordering = ["record_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["record", "position"], name="idempotency_item_position_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.record_id}#{self.position}"


# --- webhooks: subscriptions, deliveries (the per-subscription outbox), delivery attempts ---

def new_webhook_secret() -> str:
    """Return a Standard Webhooks secret: ``"whsec_"`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookSubscription(TimeStampedModel):
    """An integrator's endpoint and the event types it wants.

    ``event_types`` holds patterns such as ``"package.*"``, ``"package.status.shipped"`` or
    ``"*"`` (shell-style wildcards). Deliveries are signed with ``secret``; during a
    rotation ``previous_secret`` signs too, until ``previous_secret_expires_at``. It owes
    only the events created at or after its own ``created_at``.

    ``failing_since`` is the first failed attempt with no success since (None while
    healthy); once that is ``WEBHOOK_PAUSE_AFTER_FAILING_SECONDS`` old the subscription is
    paused (``paused_at``). A paused subscription still gets its deliveries, held pending,
    and sends them oldest first when resumed.
    """

    name = models.CharField(max_length=100)
    target_url = models.URLField(max_length=500)
    event_types = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    secret = models.CharField(max_length=100, default=new_webhook_secret)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    pause_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} → {self.target_url}"

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None


class WebhookDelivery(TimeStampedModel):
    """One event owed to one subscription; retried until delivered or failed.

    ``event_type`` is the type sent in the envelope (the most specific of the event's types
    the subscription asked for). The event's uuid is the ``webhook-id`` of every attempt.

    ``next_attempt_at``: when a pending delivery may next be attempted; while an attempt
    runs, the end of its lease (a worker that died is retried after it); None while the
    subscription is paused or inactive (held). ``aggregate_type`` / ``aggregate_id`` copy
    the event's, so the deliveries of one object to one subscription go out in event order.
    ``attempt_count`` counts attempts started.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE,
                                     related_name="deliveries")
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=100)
    aggregate_type = models.CharField(max_length=50)
    aggregate_id = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="webhook_delivery_once"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="webhook_delivery_due_idx",
                         condition=Q(status="pending")),
            # a subscription's backlog, and the older pending delivery of the same object
            models.Index(fields=["subscription", "aggregate_type", "aggregate_id", "event"],
                         name="webhook_delivery_queue_idx", condition=Q(status="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.subscription_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: when, how long, what came back."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} @ {self.started_at:%Y-%m-%d %H:%M:%S}: {self.status_code or self.error}"
