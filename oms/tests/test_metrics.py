"""/metrics: who may read it, and the outbox, webhook, queue and heartbeat series."""

import datetime as dt
import socket

import pytest
from django.test import Client
from django.utils import timezone

from oms.actions.actors import Actor
from oms.config.celery import app as celery_app
from oms.events.models import OutboxEvent
from oms.observability.heartbeat import HEARTBEAT_JOB
from oms.observability.jobs import job_run_record
from oms.testing import metrics_scrape
from oms.webhooks.delivery import webhook_subscription_save
from oms.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from oms.webhooks.tasks import webhook_retry_due_task
from packages.engine import package_run
from packages.models import Status
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db
TOKEN = "test-metrics-token"
OPERATOR = Actor("user", "operator")


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []
    return settings


def _status(**kwargs) -> int:
    return Client(**kwargs).get("/metrics").status_code


def test_metrics_are_off_without_token_or_allowed_addresses(settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", []
    assert _status(HTTP_AUTHORIZATION="Bearer anything") == 404


def test_metrics_need_the_bearer_token(metrics_on):
    assert _status() == 403
    assert _status(HTTP_AUTHORIZATION="Bearer wrong") == 403
    assert _status(HTTP_AUTHORIZATION=f"Token {TOKEN}") == 403
    assert _status(HTTP_AUTHORIZATION=f"Bearer {TOKEN}") == 200


def test_metrics_from_an_allowed_address_or_network(settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", ["10.0.0.0/8", "192.0.2.7"]
    assert _status(REMOTE_ADDR="10.20.30.40") == 200
    assert _status(REMOTE_ADDR="192.0.2.7") == 200
    assert _status(REMOTE_ADDR="192.0.2.8") == 403
    assert _status(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.0.0.1") == 403


def test_metrics_answer_any_host_name(metrics_on):
    """Prometheus scrapes a machine by its address."""
    assert _status(HTTP_HOST="10.1.2.3:8000", HTTP_AUTHORIZATION=f"Bearer {TOKEN}") == 200


def test_metrics_count_requests_by_view(metrics_on, client):
    """django-prometheus's request series, next to the OMS series."""
    client.get("/login/")
    samples = metrics_scrape(client)
    assert samples[("django_http_responses_total_by_status_view_method_total",
                    (("method", "GET"), ("status", "200"), ("view", "login")))] >= 1


def test_outbox_backlog_and_its_oldest_age(metrics_on, client):
    """Events of a committed action wait in the outbox until the relay hands them on (here the
    test's transaction never commits, so nothing hands them on)."""
    package = make_package(Status.PENDING)
    package_run("start_preparing", package_id=package.pk, actor=OPERATOR)
    package_run("complete_packaging", package_id=package.pk, actor=OPERATOR)
    OutboxEvent.objects.filter(pk=OutboxEvent.objects.order_by("id").first().pk).update(
        created_at=timezone.now() - dt.timedelta(minutes=5))
    samples = metrics_scrape(client)
    assert samples[("oms_outbox_backlog", ())] == 2
    assert 300 <= samples[("oms_outbox_oldest_age_seconds", ())] < 360
    OutboxEvent.objects.update(dispatched_at=timezone.now())
    samples = metrics_scrape(client)
    assert samples[("oms_outbox_backlog", ())] == 0
    assert samples[("oms_outbox_oldest_age_seconds", ())] == 0


def test_webhook_series(metrics_on, client, receiver, django_capture_on_commit_callbacks):
    """A failing endpoint: its attempts by outcome, their durations, its backlog and failing
    time; then the same once it answers again."""
    r = receiver(statuses=(500, 500, 200))
    subscription = webhook_subscription_save(subscription=WebhookSubscription(
        name="erp", target_url=r.url, event_types=["package.*"]))
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            package_run("ship", package_id=make_package(Status.PACKAGING_COMPLETED).pk, actor=OPERATOR,
                        carrier="C", tracking_number="T")
    WebhookAttempt.objects.update(duration_ms=300)  # the receiver is fast; make them measurable
    subscription_labels = (("name", "erp"), ("subscription", str(subscription.pk)))
    samples = metrics_scrape(client)
    assert samples[("oms_webhook_attempts_recent", (("outcome", "http_error"),))] == 2
    assert samples[("oms_webhook_attempts_recent", (("outcome", "success"),))] == 0
    assert samples[("oms_webhook_backlog", subscription_labels)] == 2
    assert samples[("oms_webhook_subscription_failing_seconds", subscription_labels)] > 0
    assert samples[("oms_webhook_subscription_paused", subscription_labels)] == 0
    buckets = {labels[0][1]: value for (name, labels), value in samples.items()
               if name == "oms_webhook_attempt_duration_seconds_recent_bucket"}
    assert (buckets["0.25"], buckets["0.5"], buckets["+Inf"]) == (0, 2, 2)
    assert samples[("oms_webhook_attempt_duration_seconds_recent_gsum", ())] == pytest.approx(0.6)

    WebhookAttempt.objects.update(started_at=timezone.now() - dt.timedelta(minutes=10))  # out of the window
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    webhook_retry_due_task()  # the endpoint answers 200 now
    samples = metrics_scrape(client)
    assert samples[("oms_webhook_attempts_recent", (("outcome", "success"),))] == 2
    assert samples[("oms_webhook_attempts_recent", (("outcome", "http_error"),))] == 0
    assert samples[("oms_webhook_backlog", subscription_labels)] == 0
    assert samples[("oms_webhook_subscription_failing_seconds", subscription_labels)] == 0
    assert samples[("oms_webhook_deliveries_failed", ())] == 0
    WebhookDelivery.objects.filter(pk=WebhookDelivery.objects.first().pk).update(status="failed")
    assert metrics_scrape(client)[("oms_webhook_deliveries_failed", ())] == 1


@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_celery_queue_lengths_and_broker_up(metrics_on, client, settings):
    celery_app.send_task("packages.tasks.package_recheck_for_stock_task", args=(1, [1]), queue="stock")
    try:
        samples = metrics_scrape(client)
    finally:
        with celery_app.connection_for_read() as conn:
            conn.default_channel.queue_purge("stock")
    assert samples[("oms_broker_up", ())] == 1
    assert samples[("oms_celery_queue_length", (("queue", "stock"),))] == 1
    assert samples[("oms_celery_queue_length", (("queue", "webhooks"),))] == 0

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    samples = metrics_scrape(client)
    assert samples[("oms_broker_up", ())] == 0
    assert not any(name == "oms_celery_queue_length" for name, _ in samples)
    assert ("oms_outbox_backlog", ()) in samples  # the rest is still served


def test_heartbeat_timestamps(metrics_on, client):
    beat_at = timezone.now() - dt.timedelta(seconds=20)
    job_run_record(job=HEARTBEAT_JOB, key="beat", at=beat_at)
    samples = metrics_scrape(client)
    assert samples[("oms_heartbeat_timestamp_seconds", (("process", "beat"),))] == pytest.approx(
        beat_at.timestamp())
    assert ("oms_heartbeat_timestamp_seconds", (("process", "worker"),)) not in samples
