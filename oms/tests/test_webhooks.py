"""Webhooks: signed deliveries to a real HTTP receiver, retries, redirects, SSRF guard,
and nothing sent for a change that did not commit."""

import datetime as dt
import json

import pytest
from django.db.models import F
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from oms.actions.actors import Actor
from oms.actions.errors import InvalidInput
from oms.events.models import OutboxEvent
from oms.events.relay import outbox_dispatch
from oms.webhooks.delivery import (
    CLAIM_LEASE_MARGIN,
    UnsafeTargetUrl,
    webhook_deliver,
    webhook_secret_rotate,
    webhook_subscription_save,
    webhook_target_check,
)
from oms.webhooks.models import WebhookDelivery, WebhookSubscription
from oms.webhooks.tasks import webhook_retry_due_task
from packages.engine import package_run
from packages.models import Status
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db
OPERATOR = Actor("user", "operator")


def _subscribe(url, types=("package.*",)):
    return webhook_subscription_save(subscription=WebhookSubscription(
        name="erp", target_url=url, event_types=list(types)))


def _ship(package, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        package_run("ship", package_id=package.pk, actor=OPERATOR, carrier="C", tracking_number="T")


def _force_due():
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())


def test_signed_delivery_verifies_with_standardwebhooks(receiver, django_capture_on_commit_callbacks):
    r = receiver()
    subscription = _subscribe(r.url, ["package.status.shipped"])
    package = make_package(Status.PACKAGING_COMPLETED)
    _ship(package, django_capture_on_commit_callbacks)
    assert len(r.requests) == 1
    request = r.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    payload = Webhook(subscription.secret).verify(request["body"], headers)
    assert payload["event"]["type"] == "package.status.transitioned"  # as in the event feed
    assert payload["event"]["status_type"] == "package.status.shipped"
    assert payload["event"]["uuid"] == headers["webhook-id"] == OutboxEvent.objects.get().uuid.hex
    assert payload["payload"]["package"]["number"] == package.number
    assert WebhookDelivery.objects.get().status == "delivered"


def test_one_committed_action_one_event_per_subscription(receiver, django_capture_on_commit_callbacks):
    a, b = receiver(), receiver()
    _subscribe(a.url, ["package.*", "package.status.shipped"])
    _subscribe(b.url, ["*"])
    _subscribe(b.url, ["transfer.*"])  # not interested
    package = make_package(Status.PACKAGING_COMPLETED)
    _ship(package, django_capture_on_commit_callbacks)
    assert len(a.requests) == 1 and len(b.requests) == 1
    assert WebhookDelivery.objects.count() == 2


@pytest.mark.django_db(transaction=True)  # the engine's transaction is the outermost, as served
def test_failed_transaction_sends_nothing(receiver, monkeypatch, django_capture_on_commit_callbacks):
    r = receiver()
    _subscribe(r.url)
    package = make_package(Status.PENDING, quantities=(1, 1))

    def broken(**kwargs):
        raise RuntimeError("replacement cannot be created")

    monkeypatch.setattr("packages.actions.package_create", broken)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        package_run("report_missing", package_id=package.pk, actor=OPERATOR,
                    items={package.items.first().sku.code: 1})
    assert not OutboxEvent.objects.exists()
    assert r.requests == []


def test_500_three_times_then_200_same_webhook_id(receiver, django_capture_on_commit_callbacks):
    r = receiver(statuses=(500, 500, 500, 200))
    _subscribe(r.url)
    _ship(make_package(Status.PACKAGING_COMPLETED), django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.attempt_count == 1
    assert delivery.next_attempt_at > timezone.now()  # backoff, not an immediate retry
    for _ in range(3):
        _force_due()
        webhook_retry_due_task()
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert delivery.attempt_count == 4
    assert len({req["headers"]["webhook-id"] for req in r.requests}) == 1
    assert len(r.requests) == 4
    assert [a.status_code for a in delivery.attempts.all()] == [500, 500, 500, 200]
    assert {a.response_excerpt for a in delivery.attempts.all()} == {"ok"}


def test_redirect_is_not_followed(receiver, django_capture_on_commit_callbacks):
    target = receiver()
    r = receiver(statuses=(302,), location=target.url)
    _subscribe(r.url)
    _ship(make_package(Status.PACKAGING_COMPLETED), django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending"
    assert delivery.last_error == "redirect not followed"
    assert target.requests == []


@pytest.mark.parametrize("url", [
    "http://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data", "http://127.0.0.1/x",
    "http://[::1]/x", "http://192.168.0.10/", "ftp://example.com/", "not a url",
    "http://[::ffff:10.0.0.1]/",
])
def test_unsafe_targets_are_refused(url):
    with pytest.raises(UnsafeTargetUrl):
        webhook_target_check(url)
    with pytest.raises(InvalidInput):
        _subscribe(url)
    assert not WebhookSubscription.objects.exists()


def test_worker_dying_mid_delivery_is_recovered(receiver, monkeypatch, settings,
                                                django_capture_on_commit_callbacks):
    r = receiver()
    _subscribe(r.url)
    import oms.webhooks.delivery as webhooks

    real_post = webhooks._post

    def dies(*args, **kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr(webhooks, "_post", dies)
    package = make_package(Status.PACKAGING_COMPLETED)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        package_run("ship", package_id=package.pk, actor=OPERATOR, carrier="C", tracking_number="T")
    event = OutboxEvent.objects.get()
    outbox_dispatch(event_id=event.pk)  # fan-out committed
    delivery = WebhookDelivery.objects.get()
    with pytest.raises(SystemExit):
        webhook_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempt_count == 1  # claimed, leased
    assert not delivery.attempts.exists()
    monkeypatch.setattr(webhooks, "_post", real_post)
    assert webhook_retry_due_task() == 0  # the lease still runs: no second sender
    lease = dt.timedelta(seconds=3 * settings.WEBHOOK_TIMEOUT_SECONDS) + CLAIM_LEASE_MARGIN
    WebhookDelivery.objects.update(next_attempt_at=F("next_attempt_at") - lease)
    assert webhook_retry_due_task() == 1  # the sweeper finds it once the lease has run out
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert len(r.requests) == 1
    assert callbacks  # the hand-off was registered for after commit


def test_secret_rotation_signs_with_both_during_overlap(receiver, django_capture_on_commit_callbacks):
    r = receiver()
    subscription = _subscribe(r.url)
    old_secret = subscription.secret
    subscription = webhook_secret_rotate(subscription_id=subscription.pk)
    _ship(make_package(Status.PACKAGING_COMPLETED), django_capture_on_commit_callbacks)
    request = r.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (old_secret, subscription.secret):
        assert json.loads(json.dumps(Webhook(secret).verify(request["body"], headers)))


def test_operator_sees_package_deliveries_and_replays_failed_ones(client, receiver,
                                                                  django_capture_on_commit_callbacks):
    from django.contrib.auth import get_user_model

    r = receiver(statuses=(500,))
    _subscribe(r.url)
    package = make_package(Status.PACKAGING_COMPLETED)
    _ship(package, django_capture_on_commit_callbacks)
    WebhookDelivery.objects.update(status="failed")
    client.force_login(get_user_model().objects.create_user("op", password="pw", is_staff=True))
    page = client.get(f"/packages/{package.number}/")
    assert page.status_code == 200
    assert b"package.status.shipped" in page.content or b"package.status.transitioned" in page.content
    r.statuses = [200]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/packages/{package.number}/webhooks/replay/")
    assert response.status_code == 302
    assert WebhookDelivery.objects.get().status == "delivered"


def test_saving_a_subscription_keeps_a_pause_and_a_rotation_made_meanwhile(settings):
    """Regression: the admin/API save wrote the whole row as read, so an edit crossing a
    pause or a secret rotation put the old secret and the unpaused state back."""
    from oms.webhooks.delivery import webhook_secret_rotate, webhook_subscription_pause

    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1:9"]
    subscription = _subscribe("http://127.0.0.1:9/hook")
    edited = WebhookSubscription.objects.get(pk=subscription.pk)  # the form opens
    rotated = webhook_secret_rotate(subscription_id=subscription.pk)
    webhook_subscription_pause(subscription_id=subscription.pk, reason="maintenance")
    edited.name = "erp v2"
    webhook_subscription_save(subscription=edited)
    saved = WebhookSubscription.objects.get(pk=subscription.pk)
    assert saved.name == "erp v2"
    assert saved.secret == rotated.secret and saved.previous_secret == subscription.secret
    assert saved.paused_at is not None and saved.pause_reason == "maintenance"
