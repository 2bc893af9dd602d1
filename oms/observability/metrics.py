"""Prometheus series of the OMS, computed from the database and the broker at scrape time.

Web, worker, beat and relay are separate processes (and machines): what they do is read back
from the rows they write (outbox, webhook attempts, run records), so every web process
answers ``/metrics`` with the same numbers. The domain apps add their own collectors
(``metrics_collector_register``, from their ``AppConfig.ready``); ``/metrics`` serves them
after django-prometheus's request series of the answering machine.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from django.db.models import Case, Count, Q, Sum, Value, When
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric

from oms.events.models import OutboxEvent
from oms.observability.broker import broker_queue_lengths
from oms.observability.heartbeat import HEARTBEAT_JOB
from oms.observability.jobs import job_runs
from oms.webhooks.delivery import webhook_subscription_list
from oms.webhooks.models import WebhookAttempt, WebhookDelivery

logger = logging.getLogger(__name__)

# Webhook attempts are summed over the last this many seconds (gauges, not counters).
WEBHOOK_ATTEMPTS_WINDOW_SECONDS = 300
WEBHOOK_DURATION_BUCKETS_MS = (50, 100, 250, 500, 1000, 2500, 5000, 10000)

DOMAIN_REGISTRY = CollectorRegistry(auto_describe=False)
_collectors: dict[str, object] = {}


def metrics_collector_register(name: str, collector) -> None:
    """Serve ``collector`` (an object whose ``collect()`` yields metric families) at
    ``/metrics``. Registering another under the same ``name`` replaces it."""
    if name in _collectors:
        DOMAIN_REGISTRY.unregister(_collectors.pop(name))
    DOMAIN_REGISTRY.register(collector)
    _collectors[name] = collector


def metrics_domain_exposition() -> bytes:
    """The registered collectors' series in Prometheus text format (runs their queries)."""
    return generate_latest(DOMAIN_REGISTRY)


def _age_seconds(moment, now) -> float:
    return max((now - moment).total_seconds(), 0.0) if moment else 0.0


class OmsCollector:
    """Outbox, webhooks, Celery queues and heartbeats (about ten indexed queries, one broker
    connection)."""

    def collect(self) -> Iterable[Metric]:
        now = timezone.now()
        yield from self._outbox(now)
        yield from self._webhooks(now)
        yield from self._queues()
        yield from self._heartbeats()

    def _outbox(self, now) -> Iterable[Metric]:
        undispatched = OutboxEvent.objects.filter(dispatched_at__isnull=True)
        oldest = undispatched.order_by("id").values_list("created_at", flat=True).first()
        yield GaugeMetricFamily("oms_outbox_backlog", "Outbox events not yet handed on by the relay.",
                                value=undispatched.count())
        yield GaugeMetricFamily(
            "oms_outbox_oldest_age_seconds",
            "Age of the oldest outbox event not yet handed on (0 when none).",
            value=_age_seconds(oldest, now))

    def _webhooks(self, now) -> Iterable[Metric]:
        labels = ["subscription", "name"]
        backlog = GaugeMetricFamily("oms_webhook_backlog",
                                    "Pending deliveries of a subscription.", labels=labels)
        oldest = GaugeMetricFamily("oms_webhook_backlog_oldest_age_seconds",
                                   "Age of a subscription's oldest pending delivery (0 when none).",
                                   labels=labels)
        failing = GaugeMetricFamily(
            "oms_webhook_subscription_failing_seconds",
            "Seconds since a subscription's first failed attempt with no success since (0 when healthy).",
            labels=labels)
        paused = GaugeMetricFamily("oms_webhook_subscription_paused",
                                   "1 while a subscription is paused.", labels=labels)
        for subscription in webhook_subscription_list():
            values = [str(subscription.pk), subscription.name]
            backlog.add_metric(values, subscription.backlog_count)
            oldest.add_metric(values, _age_seconds(subscription.backlog_oldest_at, now))
            failing.add_metric(values, _age_seconds(subscription.failing_since, now))
            paused.add_metric(values, 1 if subscription.is_paused else 0)
        yield from (backlog, oldest, failing, paused)
        yield GaugeMetricFamily(
            "oms_webhook_deliveries_failed",
            "Deliveries given up after their last retry (replay sends them again).",
            value=WebhookDelivery.objects.filter(status=WebhookDelivery.Status.FAILED).count())
        yield from self._webhook_attempts(now)

    def _webhook_attempts(self, now) -> Iterable[Metric]:
        success = Q(status_code__gte=200, status_code__lt=300, error="")
        buckets = {f"le_{ms}": Count("pk", filter=Q(duration_ms__lte=ms))
                   for ms in WEBHOOK_DURATION_BUCKETS_MS}
        rows = (
            WebhookAttempt.objects
            .filter(started_at__gte=now - dt.timedelta(seconds=WEBHOOK_ATTEMPTS_WINDOW_SECONDS))
            .annotate(outcome=Case(When(success, then=Value("success")),
                                   When(status_code__isnull=False, then=Value("http_error")),
                                   default=Value("no_response")))
            .values("outcome").annotate(n=Count("pk"), total_ms=Sum("duration_ms"), **buckets)
            .order_by("outcome")
        )
        window = f"in the last {WEBHOOK_ATTEMPTS_WINDOW_SECONDS} s"
        attempts = GaugeMetricFamily(
            "oms_webhook_attempts_recent",
            f"Webhook attempts started {window}, by outcome (success: 2xx; http_error: another "
            "status; no_response: timeout, refused, DNS …).", labels=["outcome"])
        counts = {outcome: 0 for outcome in ("success", "http_error", "no_response")}
        total = {key: 0 for key in buckets}
        total_ms = 0
        for row in rows:
            counts[row["outcome"]] = row["n"]
            total_ms += row["total_ms"] or 0
            for key in buckets:
                total[key] += row[key]
        for outcome, n in counts.items():
            attempts.add_metric([outcome], n)
        yield attempts
        duration = GaugeHistogramMetricFamily(
            "oms_webhook_attempt_duration_seconds_recent", f"Duration of the webhook attempts {window}.",
            buckets=[*((str(ms / 1000), total[f"le_{ms}"]) for ms in WEBHOOK_DURATION_BUCKETS_MS),
                     ("+Inf", sum(counts.values()))],
            gsum_value=total_ms / 1000)
        yield duration

    def _queues(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("oms_broker_up", "1 when the Celery broker answered this scrape.")
        try:
            lengths = broker_queue_lengths()
        except Exception as exc:  # the broker is down or hung: say so, keep the other series
            logger.warning("broker not read for /metrics: %r", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        queue = GaugeMetricFamily("oms_celery_queue_length", "Messages waiting in a Celery queue.",
                                  labels=["queue"])
        for name, length in lengths.items():
            queue.add_metric([name], length)
        yield queue

    def _heartbeats(self) -> Iterable[Metric]:
        heartbeat = GaugeMetricFamily(
            "oms_heartbeat_timestamp_seconds",
            "Unix time of the last heartbeat: beat's hand-off of it to the broker (process=beat), "
            "a worker running it (process=worker).", labels=["process"])
        for run in job_runs(jobs=[HEARTBEAT_JOB]):
            heartbeat.add_metric([run.key], run.last_run_at.timestamp())
        yield heartbeat
