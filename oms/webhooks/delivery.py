"""Webhook delivery: fan-out of committed outbox events, Standard Webhooks signing, retries
with exponential backoff, pausing of failing endpoints, and the guard on target URLs (each
attempt connects to the address the guard checked).

Flow: the outbox hand-off (after the change committed) calls ``webhook_fan_out``, which
creates one ``WebhookDelivery`` per matching active subscription, paused or not (a unique
constraint makes it idempotent), and queues ``webhook_deliver_task`` after commit.
``webhook_deliver`` claims an attempt in one short transaction, POSTs with no transaction
open, and records the outcome in another. The beat job ``webhook_retry_due_task`` sends
what is due, longest due first: retries, lost hand-offs, attempts whose worker died (their
lease ran out), a resumed subscription's backlog. Delivery is at least once, and in event
order per subscription and object (e.g. package).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import ipaddress
import json
import logging
import socket
import time
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlsplit

import requests
import urllib3
from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, Min, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from requests.adapters import HTTPAdapter
from standardwebhooks.webhooks import Webhook

from oms.actions.errors import InvalidInput
from oms.events.models import EventTypeStyle, OutboxEvent
from oms.events.relay import INTERNAL_EVENT_TASKS
from oms.events.types import event_pattern_is_known, event_types
from oms.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription, new_webhook_secret

logger = logging.getLogger(__name__)

# Pause before attempt n+1 after n failures: ~1 day in all, then the delivery fails.
RETRY_DELAYS = [dt.timedelta(seconds=s) for s in (30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600,
                                                   12 * 3600)]
# A claimed attempt may take three WEBHOOK_TIMEOUT_SECONDS (connect, answer, excerpt) and
# this much more before the delivery may be claimed again (its worker is presumed dead).
CLAIM_LEASE_MARGIN = dt.timedelta(seconds=30)
RESPONSE_EXCERPT_CHARS = 500


class UnsafeTargetUrl(InvalidInput):
    """A webhook target that is not http(s), carries credentials, names a port other than 80
    or 443, or resolves to a non-public address (HTTP 400, field ``target_url``)."""

    code = "unsafe_target_url"


# --- target URL guard --------------------------------------------------------------------

ALLOWED_PORTS = (80, 443)
# RFC 6052 well-known NAT64 prefix: the last 32 bits are the IPv4 address reached.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# RFC 8215 local-use NAT64 prefix: reaches the operator's own IPv4 network, never public.
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
# Deprecated IPv4-compatible addresses (RFC 4291 2.5.5.1): ::a.b.c.d.
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries: IPv4-mapped (``::ffff:a.b.c.d``),
    IPv4-compatible (``::a.b.c.d``), NAT64 (``64:ff9b::a.b.c.d``), 6to4 (``2002:AABB:CCDD::``)
    and Teredo (``2001::/32``: server and client)."""
    embedded = []
    if ip.ipv4_mapped:
        embedded.append(ip.ipv4_mapped)
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # not :: nor ::1, which is_global refuses
        embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip in _NAT64:
        embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour:
        embedded.append(ip.sixtofour)
    if ip.teredo:
        embedded.extend(ip.teredo)
    return embedded


def _is_public(address: str) -> bool:
    """True if ``address`` (IPv4 or IPv6, optionally with a ``%scope``) and every IPv4
    address embedded in it are global unicast addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return False
        embedded = _embedded_ipv4(ip)
        if ip.ipv4_mapped:  # the IPv6 form itself is "private" to ipaddress; judge the IPv4
            return all(_is_public(str(v4)) for v4 in embedded)
        if not all(_is_public(str(v4)) for v4 in embedded):
            return False
    return ip.is_global and not ip.is_multicast


def _allowed_host_entries() -> set[tuple[str, int | None]]:
    """``WEBHOOK_ALLOWED_HOSTS`` as ``{(host, port or None)}``: ``host``, ``host:port``,
    ``[v6]:port`` or a bare IPv6 address, lower-cased."""
    entries = set()
    for entry in getattr(settings, "WEBHOOK_ALLOWED_HOSTS", ()):
        entry = entry.strip().lower()
        if not entry:
            continue
        parts = urlsplit(f"//{entry}") if entry.count(":") <= 1 or entry.startswith("[") else None
        try:
            host, port = (parts.hostname, parts.port) if parts else (entry, None)
        except ValueError:  # a port that is no number: the entry allows nothing
            continue
        if host:
            entries.add((host, port))
    return entries


@dataclass(frozen=True)
class CheckedTarget:
    """A webhook target that passed ``webhook_target_check``: connect to ``address`` (checked),
    on ``port``, naming ``hostname`` in the Host header and TLS (SNI, certificate)."""

    url: str
    scheme: str
    hostname: str
    port: int
    address: str

    @property
    def host_header(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def webhook_target_check(url: str) -> CheckedTarget:
    """Check ``url`` as a webhook target and return where to connect, resolving its host once.

    Refused: a scheme other than http(s); credentials (``user:pw@``); a port other than 80
    or 443; a host that does not resolve, or any of whose addresses is not public
    (loopback, private 10/8, 172.16/12, 192.168/16, fc00::/7, shared 100.64/10, link-local
    169.254/16 with the cloud metadata address, multicast, reserved, unspecified), including
    an IPv6 address embedding a refused IPv4 one (IPv4-mapped or -compatible, NAT64, 6to4,
    Teredo). ``settings.WEBHOOK_ALLOWED_HOSTS`` entries lift the address check for a
    ``host`` (ports 80 and 443) or a ``host:port`` (that port only). The connection must go
    to the returned ``address`` (``PinnedAddressAdapter``): resolving again could answer
    differently (DNS rebinding). Raises ``UnsafeTargetUrl`` (field ``target_url``).
    """
    parts = urlsplit(url or "")
    try:
        port = parts.port
    except ValueError:
        raise UnsafeTargetUrl("target_url has an invalid port", field="target_url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTargetUrl("target_url must be an http(s) URL with a host", field="target_url")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTargetUrl("target_url must not contain credentials (user:password@); "
                              "receivers authenticate deliveries by their signature",
                              field="target_url")
    hostname = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    allowed = _allowed_host_entries()
    if port not in ALLOWED_PORTS and (hostname, port) not in allowed:
        raise UnsafeTargetUrl(f"target_url port {port} is not allowed (only 80 and 443)",
                              field="target_url")
    trusted = (hostname, port) in allowed or (hostname, None) in allowed
    try:
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise UnsafeTargetUrl(f"Host {hostname} does not resolve", field="target_url") from None
    addresses = [info[4][0] for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]
    if not addresses:
        raise UnsafeTargetUrl(f"Host {hostname} does not resolve", field="target_url")
    if not trusted:
        for address in addresses:
            if not _is_public(address):
                raise UnsafeTargetUrl(f"Host {hostname} resolves to non-public address {address}",
                                      field="target_url")
    return CheckedTarget(url=url, scheme=parts.scheme, hostname=hostname, port=port,
                         address=addresses[0])


class PinnedAddressAdapter(HTTPAdapter):
    """A requests transport that connects to one checked address whatever the URL's host
    resolves to now, while TLS still sends and verifies the URL's host name (SNI and
    certificate). The caller sends the Host header (``CheckedTarget.host_header``).

    requests-hardened pins the same way, but its filter judges only the first address, lets
    IPv4-compatible ``::a.b.c.d`` through, refuses every NAT64 and 6to4 address, and knows
    no per-host allow list; this adapter connects where ``webhook_target_check`` approved.
    """

    def __init__(self, target: CheckedTarget, **kwargs) -> None:
        self.target = target
        super().__init__(**kwargs)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        port = host_params["port"] or (443 if host_params["scheme"] == "https" else 80)
        if host_params["host"] != self.target.hostname or port != self.target.port:
            raise requests.exceptions.InvalidURL("request URL is not the checked target")
        address = self.target.address.split("%", 1)[0]
        host_params["host"] = f"[{address}]" if ":" in address else address
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = self.target.hostname
            pool_kwargs["assert_hostname"] = self.target.hostname
        return host_params, pool_kwargs


def webhook_session(target: CheckedTarget) -> requests.Session:
    """A session whose every connection goes to ``target.address``. It ignores the
    environment (proxies, ``.netrc`` credentials, CA bundle variables): a proxy would
    resolve the host again."""
    session = requests.Session()
    session.trust_env = False
    adapter = PinnedAddressAdapter(target)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# --- subscriptions -------------------------------------------------------------------------

def webhook_event_types_check(types) -> None:
    """Refuse ``types`` unless it is a non-empty list of patterns each matching at least one
    event type the apps publish (``oms.events.types``): ``"*"``, ``"package.*"``,
    ``"package.status.shipped"``. Raises ``InvalidInput`` (field ``event_types``, with
    ``valid_event_types``)."""
    if not isinstance(types, list) or not types or not all(isinstance(t, str) and t for t in types):
        raise InvalidInput('event_types must be a non-empty list such as ["package.*"]',
                           field="event_types", valid_event_types=event_types())
    unknown = [t for t in types if not event_pattern_is_known(t)]
    if unknown:
        raise InvalidInput(f"No event type matches {', '.join(unknown)}. Valid types: "
                           f"{', '.join(event_types())}; patterns such as \"package.*\" or \"*\" "
                           "match any of them.", field="event_types", valid_event_types=event_types())


@transaction.atomic
def webhook_subscription_save(*, subscription: WebhookSubscription) -> WebhookSubscription:
    """Validate and save a subscription (admin, API): a new one whole, an existing one's
    ``SUBSCRIPTION_EDITABLE_FIELDS`` only.

    Raises ``UnsafeTargetUrl`` for a refused target, ``InvalidInput`` (field
    ``event_types``) for patterns no event type matches (``webhook_event_types_check``) and
    (field ``event_type_style``) for an unknown style.
    """
    webhook_target_check(subscription.target_url)
    webhook_event_types_check(subscription.event_types)
    if subscription.event_type_style not in EventTypeStyle.values:
        raise InvalidInput(f"event_type_style must be one of {', '.join(EventTypeStyle.values)}",
                           field="event_type_style")
    if subscription._state.adding:
        subscription.save()
    else:  # only what a person edits: a pause, a failure or a rotation made meanwhile stays
        subscription.save(update_fields=[*SUBSCRIPTION_EDITABLE_FIELDS, "updated_at"])
    return subscription


# The fields of a subscription that admin and the API edit; the others (secrets, pause,
# failure tracking) change only through their own services.
SUBSCRIPTION_EDITABLE_FIELDS = ("name", "target_url", "event_types", "event_type_style", "is_active")


@transaction.atomic
def webhook_secret_rotate(*, subscription_id: int, overlap: dt.timedelta = dt.timedelta(hours=24)
                          ) -> WebhookSubscription:
    """Give the subscription a new secret; the old one keeps signing for ``overlap``.

    During the overlap every delivery carries both signatures, so the receiver can switch
    secrets without losing a message. Returns the subscription with the new ``secret``.
    """
    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription_id)
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_expires_at = timezone.now() + overlap
    subscription.secret = new_webhook_secret()
    subscription.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at",
                                     "updated_at"])
    return subscription


# --- fan-out -------------------------------------------------------------------------------

def event_type_candidates(event: OutboxEvent) -> list[str]:
    """Return the types a subscription's patterns are matched against, most specific first:
    a transition's ``status_type`` (``package.status.shipped``) and its ``type``."""
    return [t for t in (event.status_type, event.type) if t]


def subscription_matches(subscription: WebhookSubscription, candidates: list[str]) -> bool:
    """True if one of the subscription's patterns matches one of the candidate types."""
    return any(fnmatch.fnmatchcase(candidate, pattern)
               for candidate in candidates for pattern in subscription.event_types)


def _enqueue_delivery(delivery_id: int) -> None:
    """Queue one delivery's attempt (after commit). A broker error is logged, not raised:
    the row is the outbox, and ``webhook_retry_due_task`` finds it when it is due."""
    try:
        webhook_deliver_task.apply_async((delivery_id,), retry=False)
    except Exception as exc:  # broker down
        logger.warning("webhook delivery %s not queued (%s)", delivery_id, exc)


def _enqueue_due() -> None:
    """Queue one run of ``webhook_retry_due_task`` (after commit of a resume or replay): one
    message however many deliveries became due, and no retrying publish inside a request."""
    try:
        webhook_retry_due_task.apply_async(retry=False)
    except Exception as exc:  # broker down: the beat runs it anyway
        logger.warning("webhook retry run not queued (%s)", exc)


def _earlier_pending(deliveries: list[WebhookDelivery], *, exclude_event_ids: list[int]
                     ) -> dict[tuple[int, str, int], dt.datetime | None]:
    """``{(subscription id, aggregate type, aggregate id): earliest next attempt}`` of the
    pending deliveries, other than of ``exclude_event_ids``, to the same subscriptions about
    the same objects as ``deliveries``. 1 query (none for no deliveries)."""
    if not deliveries:
        return {}
    rows = (WebhookDelivery.objects
            .filter(status=WebhookDelivery.Status.PENDING,
                    subscription_id__in={d.subscription_id for d in deliveries},
                    aggregate_type__in={d.aggregate_type for d in deliveries},
                    aggregate_id__in={d.aggregate_id for d in deliveries})
            .exclude(event_id__in=exclude_event_ids)
            .values_list("subscription_id", "aggregate_type", "aggregate_id")
            .annotate(earliest=Min("next_attempt_at")).order_by())
    return {(sid, atype, aid): earliest for sid, atype, aid, earliest in rows}


@transaction.atomic
def webhook_fan_out(*, events: list[OutboxEvent]) -> list[int]:
    """Create the deliveries committed ``events`` owe and queue the sendable ones after commit.

    One delivery per event and active subscription whose patterns match and that existed
    when the event was created (``event.created_at >= subscription.created_at``), paused or
    not: a paused subscription's deliveries are held (``next_attempt_at`` None) until it is
    resumed. Idempotent (a unique constraint). Only the oldest new delivery per subscription
    and object is queued, and none where an earlier delivery of that object is still pending
    (they wait until its next attempt): the others follow in order (``webhook_deliver``).
    Returns the pending delivery ids of ``events``. 1 query when nobody subscribes, 3 when
    every matching subscription is paused, 4 otherwise.
    """
    subscriptions = list(WebhookSubscription.objects.filter(is_active=True))
    if not subscriptions or not events:
        return []
    now = timezone.now()
    wanted = []
    for event in events:
        candidates = event_type_candidates(event)
        for subscription in subscriptions:
            if event.created_at < subscription.created_at:
                continue
            if subscription_matches(subscription, candidates):
                wanted.append(WebhookDelivery(
                    subscription=subscription, event=event,
                    event_type=event.envelope(style=subscription.event_type_style)["event"]["type"],
                    aggregate_type=event.aggregate_type, aggregate_id=event.aggregate_id,
                    next_attempt_at=None if subscription.is_paused else now))
    if not wanted:
        return []
    waiting = _earlier_pending([d for d in wanted if d.next_attempt_at is not None],
                               exclude_event_ids=[e.pk for e in events])
    for delivery in wanted:
        key = (delivery.subscription_id, delivery.aggregate_type, delivery.aggregate_id)
        if waiting.get(key) and waiting[key] > now:
            delivery.next_attempt_at = waiting[key]
    WebhookDelivery.objects.bulk_create(wanted, ignore_conflicts=True)
    rows = list(WebhookDelivery.objects.filter(event__in=events, status=WebhookDelivery.Status.PENDING)
                .order_by("event_id", "pk")
                .values_list("pk", "subscription_id", "aggregate_type", "aggregate_id",
                             "next_attempt_at"))
    heads = {}
    for pk, subscription_id, aggregate_type, aggregate_id, next_attempt_at in rows:
        key = (subscription_id, aggregate_type, aggregate_id)
        if next_attempt_at is not None and key not in waiting:
            heads.setdefault(key, pk)
    for delivery_id in heads.values():
        transaction.on_commit(partial(_enqueue_delivery, delivery_id))
    return [row[0] for row in rows]


# --- delivery ------------------------------------------------------------------------------

def _signature_header(subscription: WebhookSubscription, msg_id: str, timestamp: dt.datetime,
                      body: str) -> str:
    signatures = [Webhook(subscription.secret).sign(msg_id, timestamp, body)]
    if (subscription.previous_secret and subscription.previous_secret_expires_at
            and subscription.previous_secret_expires_at > timezone.now()):
        signatures.append(Webhook(subscription.previous_secret).sign(msg_id, timestamp, body))
    return " ".join(signatures)


def _post(subscription: WebhookSubscription, delivery: WebhookDelivery) -> tuple[int | None, str, str]:
    """Send one signed attempt; return ``(status_code | None, error, response_excerpt)``.

    The target is checked again (DNS may have changed since the subscription was saved) and
    the request goes to the address that check resolved and approved.
    """
    try:
        target = webhook_target_check(subscription.target_url)
    except UnsafeTargetUrl as exc:
        return None, exc.detail, ""
    body = json.dumps(delivery.event.envelope(style=subscription.event_type_style),
                      separators=(",", ":"), sort_keys=True)
    timestamp = timezone.now()
    msg_id = delivery.event.uuid.hex
    headers = {
        "host": target.host_header,
        "content-type": "application/json",
        "user-agent": "oms-webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": _signature_header(subscription, msg_id, timestamp, body),
    }
    try:
        # stream: read only the excerpt, so a slow body cannot outlast the attempt's lease
        with webhook_session(target) as session, session.post(
                target.url, data=body.encode(), headers=headers,
                timeout=settings.WEBHOOK_TIMEOUT_SECONDS, allow_redirects=False,
                stream=True) as response:
            head = response.raw.read(RESPONSE_EXCERPT_CHARS * 4, decode_content=True) or b""
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500], ""
    excerpt = head.decode(response.encoding or "utf-8", errors="replace")[:RESPONSE_EXCERPT_CHARS]
    if 300 <= response.status_code < 400:
        return response.status_code, "redirect not followed", excerpt
    return response.status_code, "", excerpt


def _pause_after() -> dt.timedelta:
    return dt.timedelta(seconds=settings.WEBHOOK_PAUSE_AFTER_FAILING_SECONDS)


def _lease() -> dt.timedelta:
    """How long a claimed attempt may run before another worker may start it again."""
    return dt.timedelta(seconds=3 * settings.WEBHOOK_TIMEOUT_SECONDS) + CLAIM_LEASE_MARGIN


def _same_object_pending():
    """Pending deliveries to the outer query's subscription about the same object, for older
    events: they go first."""
    values = {name: OuterRef(name) for name in ("subscription_id", "aggregate_type", "aggregate_id")}
    return WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING,
                                          event_id__lt=OuterRef("event_id"), **values)


def _same_object_undispatched():
    """Public outbox events about the outer query's object, older than its event, not yet
    handed on: a relay holding one has not created its deliveries yet, and they go first."""
    return (OutboxEvent.objects
            .filter(dispatched_at__isnull=True, aggregate_type=OuterRef("aggregate_type"),
                    aggregate_id=OuterRef("aggregate_id"), pk__lt=OuterRef("event_id"))
            .exclude(type__in=list(INTERNAL_EVENT_TASKS)))


def webhook_due_deliveries(*, now: dt.datetime | None = None):
    """Pending deliveries that may be attempted now, longest due first: due, of an active
    unpaused subscription, no older event of the same object still pending for it nor
    still to be handed on by the relay."""
    return (WebhookDelivery.objects
            .filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now or timezone.now(),
                    subscription__is_active=True, subscription__paused_at__isnull=True)
            .filter(~Exists(_same_object_pending()), ~Exists(_same_object_undispatched()))
            .order_by("next_attempt_at", "pk"))


def _claim(*, delivery_id: int) -> WebhookDelivery | str:
    """Claim one attempt, in a short transaction of its own.

    The row is locked ``SKIP LOCKED``; if it may be sent, ``attempt_count`` goes up and
    ``next_attempt_at`` becomes the end of the attempt's lease, and the delivery (with its
    subscription and event) is returned once committed. Otherwise returns why not:
    ``"busy"`` (locked by another worker, or gone), ``"delivered"`` / ``"failed"``,
    ``"held"`` (subscription paused or inactive; the row is held), ``"waiting"`` (not due,
    or an older event of the same object is pending for this subscription: the row is put
    off until that one's next attempt; or an older event of the same object is still being
    handed on by another relay: its delivery, once sent, queues this one).
    """
    now = timezone.now()
    with transaction.atomic():
        older = _same_object_pending().order_by("event_id")
        delivery = (WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("subscription", "event")
                    .annotate(has_older=Exists(older),
                              older_next_attempt_at=Subquery(older.values("next_attempt_at")[:1]),
                              has_older_undispatched=Exists(_same_object_undispatched()))
                    .filter(pk=delivery_id).first())
        if delivery is None:
            return "busy"
        if delivery.status != WebhookDelivery.Status.PENDING:
            return delivery.status
        if delivery.subscription.is_paused or not delivery.subscription.is_active:
            if delivery.next_attempt_at is not None:
                WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=None)
            return "held"
        if delivery.next_attempt_at is None or delivery.next_attempt_at > now:
            return "waiting"
        if delivery.has_older_undispatched:
            return "waiting"
        if delivery.has_older:
            older_at = delivery.older_next_attempt_at
            if older_at is not None and older_at > now:
                WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=older_at)
            return "waiting"
        delivery.attempt_count += 1
        delivery.next_attempt_at = now + _lease()
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            attempt_count=delivery.attempt_count, next_attempt_at=delivery.next_attempt_at,
            updated_at=now)
    return delivery


def _record(delivery: WebhookDelivery, *, attempt: int, started: dt.datetime, duration_ms: int,
            status_code: int | None, error: str, excerpt: str) -> str:
    """Record attempt number ``attempt`` of ``delivery`` and its outcome, in one short
    transaction; return the delivery's status afterwards.

    Locks the subscription row (through its ``UPDATE``) before the delivery rows, as pause
    and resume do; the delivery is changed by compare-and-set ``UPDATE``s. 2xx → delivered,
    the subscription's failure streak ends and the next pending event of the same object is
    made due and queued after commit. Otherwise the next attempt is scheduled per
    ``RETRY_DELAYS`` (failed once they are used up), and a subscription failing since
    ``WEBHOOK_PAUSE_AFTER_FAILING_SECONDS`` ago is paused. If another worker started a later
    attempt meanwhile (this one outlived its lease), only a success changes the delivery.
    """
    ok = status_code is not None and 200 <= status_code < 300 and not error
    now = timezone.now()
    subscriptions = WebhookSubscription.objects.filter(pk=delivery.subscription_id)
    with transaction.atomic():
        if ok:
            subscriptions.filter(Q(failing_since__isnull=False) | Q(consecutive_failures__gt=0)
                                 ).update(failing_since=None, consecutive_failures=0)
            paused = False
        else:
            subscriptions.update(consecutive_failures=F("consecutive_failures") + 1,
                                 failing_since=Coalesce(F("failing_since"), Value(now)))
            paused = bool(subscriptions.filter(
                paused_at__isnull=True, failing_since__lte=now - _pause_after(),
            ).update(paused_at=now, pause_reason="failing since more than "
                     f"{settings.WEBHOOK_PAUSE_AFTER_FAILING_SECONDS} s"))
            if paused:
                _hold_backlog(delivery.subscription_id)
        WebhookAttempt.objects.create(delivery_id=delivery.pk, started_at=started,
                                      duration_ms=duration_ms, status_code=status_code,
                                      error=error[:500], response_excerpt=excerpt)
        fields = {"last_status_code": status_code, "last_error": error[:500], "updated_at": now}
        rows = WebhookDelivery.objects.filter(pk=delivery.pk)
        if ok:
            if not rows.exclude(status=WebhookDelivery.Status.DELIVERED).update(
                    status=WebhookDelivery.Status.DELIVERED, delivered_at=now, next_attempt_at=None,
                    **fields):
                return WebhookDelivery.Status.DELIVERED  # another worker's attempt got there first
            _queue_next_of_object(delivery, now=now)
            return WebhookDelivery.Status.DELIVERED
        if attempt > len(RETRY_DELAYS):
            fields.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None)
        else:  # a paused subscription's row is held by the next claim if not here
            fields["next_attempt_at"] = None if paused else now + RETRY_DELAYS[attempt - 1]
        if rows.filter(status=WebhookDelivery.Status.PENDING, attempt_count=attempt).update(**fields):
            return fields.get("status", WebhookDelivery.Status.PENDING)
        return rows.values_list("status", flat=True).first() or "busy"


def _queue_next_of_object(delivery: WebhookDelivery, *, now: dt.datetime) -> None:
    """Make the next pending event of ``delivery``'s object for its subscription due now and
    queue it after commit (skipped if another worker holds that row)."""
    following = (WebhookDelivery.objects.select_for_update(skip_locked=True)
                 .filter(subscription_id=delivery.subscription_id,
                         aggregate_type=delivery.aggregate_type, aggregate_id=delivery.aggregate_id,
                         status=WebhookDelivery.Status.PENDING, event_id__gt=delivery.event_id,
                         next_attempt_at__isnull=False)
                 .order_by("event_id").first())
    if following is None:
        return
    if following.next_attempt_at > now:
        WebhookDelivery.objects.filter(pk=following.pk).update(next_attempt_at=now)
    transaction.on_commit(partial(_enqueue_delivery, following.pk))


def _attempt(delivery: WebhookDelivery) -> str:
    """POST a claimed delivery, with no transaction open, then record the outcome."""
    started, clock = timezone.now(), time.monotonic()
    status_code, error, excerpt = _post(delivery.subscription, delivery)
    duration_ms = int((time.monotonic() - clock) * 1000)
    return _record(delivery, attempt=delivery.attempt_count, started=started,
                   duration_ms=duration_ms, status_code=status_code, error=error, excerpt=excerpt)


def webhook_deliver(*, delivery_id: int) -> str:
    """Make one attempt of a pending delivery if it may be sent now; return its status
    afterwards, or why nothing was sent (see ``_claim``).

    Three steps, none holding a transaction or row lock across the HTTP call: claim the
    attempt (one short transaction, a lease on the row), POST, record (another). 2xx →
    delivered; otherwise retried per ``RETRY_DELAYS``, then failed. Every attempt is
    recorded. Idempotent: a delivered, failed, held, not yet due or claimed delivery
    returns without sending. The deliveries of one object to one subscription are sent
    in event order: a delivery waits while an older one is pending (a failed one no
    longer holds the later ones back).
    """
    claimed = _claim(delivery_id=delivery_id)
    if isinstance(claimed, str):
        return claimed
    return _attempt(claimed)


DUE_BATCH = 100  # candidates read at once by webhook_deliver_due


def webhook_deliver_due(*, seconds: float) -> int:
    """Send due deliveries one after another, longest due first, for about ``seconds``
    (the attempt under way is finished); return how many attempts were made.

    Reads ``DUE_BATCH`` candidates at a time and claims each as ``webhook_deliver`` does,
    so runs in parallel skip what another run has claimed.
    """
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        ids = list(webhook_due_deliveries().values_list("pk", flat=True)[:DUE_BATCH])
        made = 0
        for delivery_id in ids:
            if time.monotonic() >= deadline:
                break
            claimed = _claim(delivery_id=delivery_id)
            if not isinstance(claimed, str):
                _attempt(claimed)
                made += 1
        count += made
        if not made:
            break
    return count


def webhook_release_held(*, now: dt.datetime | None = None) -> int:
    """Make the held deliveries of active unpaused subscriptions due, oldest first (their
    creation time); return how many. Catches a delivery created as held by a fan-out that
    read the subscription just before it was resumed."""
    live = list(WebhookSubscription.objects.filter(is_active=True, paused_at__isnull=True)
                .values_list("pk", flat=True))  # by subscription: paused backlogs are not read
    if not live:
        return 0
    return WebhookDelivery.objects.filter(
        subscription_id__in=live, status=WebhookDelivery.Status.PENDING, next_attempt_at__isnull=True,
    ).update(next_attempt_at=F("created_at"))


def _hold_backlog(subscription_id: int) -> None:
    WebhookDelivery.objects.filter(subscription_id=subscription_id,
                                   status=WebhookDelivery.Status.PENDING).update(next_attempt_at=None)


@transaction.atomic
def webhook_subscription_pause(*, subscription_id: int, reason: str = "paused by hand"
                               ) -> WebhookSubscription:
    """Pause a subscription: its deliveries, current and new, are held pending until it is
    resumed. Pausing a paused subscription keeps its pause time and reason. Locks the
    subscription row, then its pending deliveries."""
    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription_id)
    if subscription.paused_at is None:
        subscription.paused_at, subscription.pause_reason = timezone.now(), reason[:255]
        subscription.save(update_fields=["paused_at", "pause_reason", "updated_at"])
    _hold_backlog(subscription.pk)
    return subscription


@transaction.atomic
def webhook_subscription_resume(*, subscription_id: int) -> WebhookSubscription:
    """Un-pause a subscription and send its backlog: pending deliveries become due (held
    ones in creation order, before those waiting for a retry), sent oldest first by a run of
    ``webhook_retry_due_task`` queued after commit (the beat's next run otherwise). The
    failure streak starts again. Locks the subscription row, then its pending deliveries."""
    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription_id)
    now = timezone.now()
    subscription.paused_at, subscription.pause_reason = None, ""
    subscription.consecutive_failures, subscription.failing_since = 0, None
    subscription.save(update_fields=["paused_at", "pause_reason", "consecutive_failures",
                                     "failing_since", "updated_at"])
    pending = subscription.deliveries.filter(status=WebhookDelivery.Status.PENDING)
    pending.filter(next_attempt_at__isnull=True).update(next_attempt_at=F("created_at"))
    pending.filter(next_attempt_at__gt=now).update(next_attempt_at=now)
    transaction.on_commit(_enqueue_due)
    return subscription


@transaction.atomic
def webhook_replay(*, delivery_ids: list[int]) -> int:
    """Send failed (or delivered) deliveries again, as new attempts with the same webhook-id
    (held, not sent, while their subscription is paused). Returns how many were re-queued;
    a run of ``webhook_retry_due_task`` is queued after commit."""
    now = timezone.now()
    updated = WebhookDelivery.objects.filter(pk__in=delivery_ids).exclude(
        status=WebhookDelivery.Status.PENDING).update(
        status=WebhookDelivery.Status.PENDING, next_attempt_at=now, attempt_count=0,
        delivered_at=None, updated_at=now)
    if updated:
        transaction.on_commit(_enqueue_due)
    return updated


def webhook_due_count(*, limit: int) -> int:
    """How many deliveries may be attempted now, counting up to ``limit``."""
    return webhook_due_deliveries().values("pk")[:limit].count()


def webhook_subscription_list():
    """Subscriptions by id, each annotated with its backlog: ``backlog_count`` (pending
    deliveries) and ``backlog_oldest_at`` (creation time of the oldest, or None). 1 query."""
    pending = WebhookDelivery.objects.filter(subscription_id=OuterRef("pk"),
                                             status=WebhookDelivery.Status.PENDING)
    return WebhookSubscription.objects.annotate(
        backlog_count=Coalesce(Subquery(pending.order_by().values("subscription_id")
                                        .annotate(n=Count("pk")).values("n")), 0),
        backlog_oldest_at=Subquery(pending.order_by("created_at").values("created_at")[:1]),
    ).order_by("id")

def webhook_deliveries_for(*, aggregate_type: str, aggregate_id: int, limit: int = 50):
    """Return the latest deliveries of one object's events (e.g. a package), newest first,
    with subscription and event joined (1 query)."""
    return (WebhookDelivery.objects.filter(event__aggregate_type=aggregate_type,
                                           event__aggregate_id=aggregate_id)
            .select_related("subscription", "event").order_by("-id")[:limit])


# --- tasks (queued by the functions above; named as in oms.webhooks.tasks) -------------------------

@shared_task(name="oms.tasks.webhook_deliver_task", acks_late=True, time_limit=120, soft_time_limit=100)
def webhook_deliver_task(delivery_id: int) -> str:
    """One attempt of one webhook delivery (retries are scheduled by the service)."""
    return webhook_deliver(delivery_id=delivery_id)


WEBHOOK_RETRY_PER_RUN = 100  # due deliveries per parallel run the beat asks for


@shared_task(name="oms.tasks.webhook_retry_due_task", time_limit=120, soft_time_limit=100)
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
