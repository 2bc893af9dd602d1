"""Webhook delivery: fan-out of committed outbox events, Standard Webhooks signing, retries
with exponential backoff, pausing of failing endpoints, and the guard on target URLs.

Flow: ``outbox_dispatch`` (after the change committed) calls ``webhook_fan_out``, which
creates one ``WebhookDelivery`` per matching active subscription (a unique constraint makes
it idempotent) and queues ``webhook_deliver_task`` after commit. ``webhook_deliver`` sends
one attempt; the beat job ``webhook_retry_due_task`` re-queues deliveries whose next
attempt is due — which also recovers a delivery whose worker died mid-attempt.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import ipaddress
import json
import logging
import re
import socket
import time
from functools import partial
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from oms.exceptions import InvalidInput
from oms.models import OutboxEvent
from oms.webhook_models import WebhookAttempt, WebhookDelivery, WebhookSubscription

logger = logging.getLogger(__name__)

# Pause before attempt n+1 after n failures: ~1 day in all, then the delivery fails.
RETRY_DELAYS = [dt.timedelta(seconds=s) for s in (30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600,
                                                   12 * 3600)]
PAUSE_AFTER_CONSECUTIVE_FAILURES = 20
RESPONSE_EXCERPT_CHARS = 500


# "*", or an event family followed by dotted lower-case words, the last of which may be "*".
EVENT_PATTERN_RE = re.compile(r"\*|(package|transfer|stock_location)(\.[a-z_]+)*(\.\*)?")


class UnsafeTargetUrl(InvalidInput):
    """A webhook target that is not http(s) or resolves to a non-public address (HTTP 400)."""

    code = "unsafe_target_url"


# --- target URL guard --------------------------------------------------------------------

def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def webhook_target_check(url: str) -> None:
    """Refuse ``url`` unless it is http(s) and every address its host resolves to is public.

    Loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16,
    including the cloud metadata address), multicast, reserved and unspecified addresses are
    refused. Hosts listed in ``settings.WEBHOOK_ALLOWED_HOSTS`` skip the address check (tests).
    Raises ``UnsafeTargetUrl`` (field ``target_url``).
    """
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTargetUrl("target_url must be an http(s) URL with a host", field="target_url")
    if parts.hostname in getattr(settings, "WEBHOOK_ALLOWED_HOSTS", ()):
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise UnsafeTargetUrl(f"Host {parts.hostname} does not resolve", field="target_url") from None
    for info in infos:
        address = info[4][0]
        if not _is_public(address):
            raise UnsafeTargetUrl(f"Host {parts.hostname} resolves to non-public address {address}",
                                  field="target_url")


# --- subscriptions -------------------------------------------------------------------------

@transaction.atomic
def webhook_subscription_save(*, subscription: WebhookSubscription) -> WebhookSubscription:
    """Validate and save a subscription (admin, API).

    Raises ``UnsafeTargetUrl`` for a refused target and ``InvalidInput`` (field
    ``event_types``) unless ``event_types`` is a non-empty list of strings.
    """
    webhook_target_check(subscription.target_url)
    types = subscription.event_types
    if not isinstance(types, list) or not types or not all(isinstance(t, str) and t for t in types):
        raise InvalidInput('event_types must be a non-empty list such as ["package.*"]',
                           field="event_types")
    bad = [t for t in types if not EVENT_PATTERN_RE.fullmatch(t)]
    if bad:
        raise InvalidInput(f"Unknown event type pattern(s): {', '.join(bad)}. Use e.g. \"*\", "
                           "\"package.*\", \"package.status.shipped\", \"transfer.status.*\", "
                           "\"stock_location.*\"", field="event_types")
    subscription.save()
    return subscription


@transaction.atomic
def webhook_secret_rotate(*, subscription_id: int, overlap: dt.timedelta = dt.timedelta(hours=24)
                          ) -> WebhookSubscription:
    """Give the subscription a new secret; the old one keeps signing for ``overlap``.

    During the overlap every delivery carries both signatures, so the receiver can switch
    secrets without losing a message. Returns the subscription with the new ``secret``.
    """
    from oms.webhook_models import new_webhook_secret

    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription_id)
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_expires_at = timezone.now() + overlap
    subscription.secret = new_webhook_secret()
    subscription.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at",
                                     "updated_at"])
    return subscription


@transaction.atomic
def webhook_subscription_resume(*, subscription_id: int) -> WebhookSubscription:
    """Un-pause a subscription and make its pending deliveries due now."""
    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription_id)
    subscription.paused_at, subscription.pause_reason, subscription.consecutive_failures = None, "", 0
    subscription.save(update_fields=["paused_at", "pause_reason", "consecutive_failures", "updated_at"])
    subscription.deliveries.filter(status=WebhookDelivery.Status.PENDING).update(
        next_attempt_at=timezone.now())
    return subscription


# --- fan-out -------------------------------------------------------------------------------

def event_type_candidates(event: OutboxEvent) -> list[str]:
    """Return the types an event can be delivered as, most specific first.

    A ``<x>.status.transitioned`` event is also ``<x>.status.<new slug>`` (the reference's
    per-state events); others only their own type.
    """
    types = [event.type]
    if event.type.endswith(".status.transitioned"):
        prefix = event.type.rsplit(".", 1)[0]
        to_status = (event.payload.get("transition") or {}).get("to_status") or {}
        if to_status.get("slug"):
            types.insert(0, f"{prefix}.{to_status['slug']}")
    return types


def subscription_event_type(subscription: WebhookSubscription, candidates: list[str]) -> str | None:
    """Return the first candidate type matching one of the subscription's patterns."""
    for candidate in candidates:
        if any(fnmatch.fnmatchcase(candidate, pattern) for pattern in subscription.event_types):
            return candidate
    return None


def _enqueue_delivery(delivery_id: int) -> None:
    from oms.tasks import webhook_deliver_task

    try:
        webhook_deliver_task.delay(delivery_id)
    except Exception as exc:  # broker down: webhook_retry_due_task re-queues it
        logger.warning("webhook delivery %s not queued (%s)", delivery_id, exc)


@transaction.atomic
def webhook_fan_out(*, events: list[OutboxEvent]) -> list[int]:
    """Create the deliveries committed ``events`` owe (one per event and matching active,
    unpaused subscription) and queue them after commit. Idempotent (a unique constraint).
    Returns the pending delivery ids. 1 query when nobody subscribes, 3 otherwise."""
    subscriptions = list(WebhookSubscription.objects.filter(is_active=True, paused_at__isnull=True))
    if not subscriptions or not events:
        return []
    now = timezone.now()
    wanted = []
    for event in events:
        candidates = event_type_candidates(event)
        for subscription in subscriptions:
            event_type = subscription_event_type(subscription, candidates)
            if event_type:
                wanted.append(WebhookDelivery(subscription=subscription, event=event,
                                              event_type=event_type, next_attempt_at=now))
    if not wanted:
        return []
    WebhookDelivery.objects.bulk_create(wanted, ignore_conflicts=True)
    ids = list(WebhookDelivery.objects.filter(event__in=events, status=WebhookDelivery.Status.PENDING)
               .values_list("pk", flat=True))
    for delivery_id in ids:
        transaction.on_commit(partial(_enqueue_delivery, delivery_id))
    return ids


# --- delivery ------------------------------------------------------------------------------

def _signature_header(subscription: WebhookSubscription, msg_id: str, timestamp: dt.datetime,
                      body: str) -> str:
    signatures = [Webhook(subscription.secret).sign(msg_id, timestamp, body)]
    if (subscription.previous_secret and subscription.previous_secret_expires_at
            and subscription.previous_secret_expires_at > timezone.now()):
        signatures.append(Webhook(subscription.previous_secret).sign(msg_id, timestamp, body))
    return " ".join(signatures)


def _post(subscription: WebhookSubscription, delivery: WebhookDelivery) -> tuple[int | None, str, str]:
    """Send one signed attempt; return ``(status_code | None, error, response_excerpt)``."""
    try:
        webhook_target_check(subscription.target_url)  # DNS may have changed since creation
    except UnsafeTargetUrl as exc:
        return None, exc.detail, ""
    envelope = delivery.event.envelope()
    if delivery.event_type != delivery.event.type:  # matched as package.status.<state>
        envelope["event"]["status_type"] = delivery.event_type
    body = json.dumps(envelope, separators=(",", ":"), sort_keys=True)
    timestamp = timezone.now()
    msg_id = delivery.event.uuid.hex
    headers = {
        "content-type": "application/json",
        "user-agent": "oms-webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": _signature_header(subscription, msg_id, timestamp, body),
    }
    try:
        response = requests.post(subscription.target_url, data=body.encode(), headers=headers,
                                 timeout=settings.WEBHOOK_TIMEOUT_SECONDS, allow_redirects=False)
    except requests.RequestException as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500], ""
    excerpt = response.text[:RESPONSE_EXCERPT_CHARS] if response.content else ""
    if 300 <= response.status_code < 400:
        return response.status_code, "redirect not followed", excerpt
    return response.status_code, "", excerpt


def webhook_deliver(*, delivery_id: int) -> str:
    """Make one attempt of a pending delivery; return its status afterwards.

    The delivery row is locked (``SKIP LOCKED``: a delivery another worker is sending is
    left alone) for the attempt, so it is sent by one worker at a time. 2xx → delivered;
    otherwise the next attempt is scheduled per ``RETRY_DELAYS`` and, once they are used
    up, the delivery fails. ``PAUSE_AFTER_CONSECUTIVE_FAILURES`` failed attempts in a row
    pause the subscription. Every attempt is recorded. Idempotent: a delivered, failed or
    not-yet-due delivery returns without sending.
    """
    with transaction.atomic():
        delivery = (WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("subscription", "event").filter(pk=delivery_id).first())
        if delivery is None:
            return "busy"
        if delivery.status != WebhookDelivery.Status.PENDING:
            return delivery.status
        subscription = delivery.subscription
        now = timezone.now()
        if subscription.is_paused or not subscription.is_active:
            return delivery.status
        if delivery.next_attempt_at and delivery.next_attempt_at > now:
            return delivery.status
        started, clock = now, time.monotonic()
        status_code, error, excerpt = _post(subscription, delivery)
        duration_ms = int((time.monotonic() - clock) * 1000)
        WebhookAttempt.objects.create(delivery=delivery, started_at=started, duration_ms=duration_ms,
                                      status_code=status_code, error=error[:500],
                                      response_excerpt=excerpt)
        delivery.attempt_count += 1
        delivery.last_status_code, delivery.last_error = status_code, error[:500]
        ok = status_code is not None and 200 <= status_code < 300 and not error
        if ok:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
                WebhookDelivery.Status.DELIVERED, timezone.now(), None)
            WebhookSubscription.objects.filter(pk=subscription.pk).update(consecutive_failures=0)
        else:
            if delivery.attempt_count > len(RETRY_DELAYS):
                delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
            else:
                delivery.next_attempt_at = timezone.now() + RETRY_DELAYS[delivery.attempt_count - 1]
            WebhookSubscription.objects.filter(pk=subscription.pk).update(
                consecutive_failures=F("consecutive_failures") + 1)
            WebhookSubscription.objects.filter(
                pk=subscription.pk, paused_at__isnull=True,
                consecutive_failures__gte=PAUSE_AFTER_CONSECUTIVE_FAILURES,
            ).update(paused_at=timezone.now(),
                     pause_reason=f"{PAUSE_AFTER_CONSECUTIVE_FAILURES} failed attempts in a row")
        delivery.save(update_fields=["status", "attempt_count", "last_status_code", "last_error",
                                     "delivered_at", "next_attempt_at", "updated_at"])
        return delivery.status


@transaction.atomic
def webhook_replay(*, delivery_ids: list[int]) -> int:
    """Send failed (or delivered) deliveries again, as new attempts with the same webhook-id.

    Returns how many were re-queued.
    """
    now = timezone.now()
    updated = WebhookDelivery.objects.filter(pk__in=delivery_ids).exclude(
        status=WebhookDelivery.Status.PENDING).update(
        status=WebhookDelivery.Status.PENDING, next_attempt_at=now, attempt_count=0,
        delivered_at=None)
    for delivery_id in delivery_ids:
        transaction.on_commit(partial(_enqueue_delivery, delivery_id))
    return updated


def webhook_due_delivery_ids(*, limit: int = 500) -> list[int]:
    """Ids of pending deliveries whose next attempt is due, of active unpaused subscriptions."""
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now(),
            subscription__is_active=True, subscription__paused_at__isnull=True,
        ).order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit]
    )


def webhook_deliveries_for(*, aggregate_type: str, aggregate_id: int, limit: int = 50):
    """Return the latest deliveries of one object's events (e.g. a package), newest first,
    with subscription and event joined (1 query)."""
    return (WebhookDelivery.objects.filter(event__aggregate_type=aggregate_type,
                                           event__aggregate_id=aggregate_id)
            .select_related("subscription", "event").order_by("-id")[:limit])
