"""Webhook subscriptions, their deliveries (the per-subscription outbox) and the HTTP attempts
of a delivery."""

import base64
import secrets

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from oms.events.models import EventTypeStyle, OutboxEvent
from oms.timestamps import TimeStampedModel


def new_webhook_secret() -> str:
    """Return a Standard Webhooks secret: ``"whsec_"`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookSubscription(TimeStampedModel):
    """An integrator's endpoint and the event types it wants.

    ``event_types`` holds patterns such as ``"package.*"``, ``"package.status.shipped"`` or
    ``"*"`` (shell-style wildcards), each matching at least one published type.
    ``event_type_style`` names a transition's ``type`` in the envelope
    (``EventTypeStyle``). Deliveries are signed with ``secret``; during a
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
    event_type_style = models.CharField(max_length=16, choices=EventTypeStyle.choices,
                                        default=EventTypeStyle.TRANSITIONED)
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

    ``event_type`` is the type sent in the envelope (per the subscription's
    ``event_type_style``). The event's uuid is the ``webhook-id`` of every attempt.

    ``next_attempt_at``: when a pending delivery may next be attempted; while an attempt
    runs, the end of its lease (a worker that died is retried after it); None while the
    subscription is paused or inactive (held). ``aggregate_type`` / ``aggregate_id`` copy
    the event's, so the deliveries of one object to one subscription go out in event order.
    ``attempt_count`` counts attempts started.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

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
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="webhook_delivery_once"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="webhook_delivery_due_idx",
                         condition=Q(status="pending")),
            # a subscription's backlog, and the older pending delivery of the same object
            models.Index(fields=["subscription", "aggregate_type", "aggregate_id", "event"],
                         name="webhook_delivery_queue_idx", condition=Q(status="pending")),
            # the count of deliveries given up (/metrics); few rows
            models.Index(fields=["id"], name="webhook_delivery_failed_idx", condition=Q(status="failed")),
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
        indexes = [models.Index(fields=["started_at"], name="webhook_attempt_started_idx")]  # /metrics

    def __str__(self) -> str:
        return f"{self.delivery_id} @ {self.started_at:%Y-%m-%d %H:%M:%S}: {self.status_code or self.error}"
