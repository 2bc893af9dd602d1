"""Subscriptions: event types checked against the types the apps publish, the event type
style, and secrets kept from read-only tokens."""

import pytest
from django.contrib.auth import get_user_model

from oms.actions.actors import Actor
from oms.api.testing import api_client
from oms.events.models import OutboxEvent
from oms.events.types import event_types
from oms.webhooks.models import WebhookSubscription
from packages.engine import package_run
from packages.models import Status as PackageStatus
from packages.tests.helpers import make_package
from transfers.models import Status as TransferStatus

pytestmark = pytest.mark.django_db
SUBS = "/api/v1/webhooks/subscriptions/"
HOST = "hooks.example.test"


@pytest.fixture
def staff():
    return get_user_model().objects.create_user("staff", is_staff=True, is_superuser=True)


@pytest.fixture
def writer(staff):
    return api_client(user=staff)[0]


@pytest.fixture(autouse=True)
def _hooks_host(fake_dns):
    fake_dns.answers[HOST] = ["93.184.215.14"]


def _create(client, types, **fields):
    return client.post(SUBS, {"name": "erp", "target_url": f"https://{HOST}/h",
                              "event_types": types, **fields}, format="json")


@pytest.mark.parametrize("types", [["package.status.cancelled"], ["package.refused"],
                                   ["package.status.nonsense_state"], ["package.*", "transfers.*"],
                                   ["package.status.shipped.*"], ["package.**"], ["package.* "],
                                   [" *"]])
def test_patterns_no_event_can_match_are_refused_with_the_valid_types(writer, types):
    response = _create(writer, types)
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "event_types"
    assert body["valid_event_types"] == event_types()
    assert "package.status.shipped" in body["valid_event_types"]
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize("types", [["*"], ["package.*"], ["package.status.canceled"],
                                   ["transfer.status.cancelled"], ["transfer.status.*"],
                                   ["package.created", "stock_location.*"],
                                   ["package.blocked", "package.unblocked"],
                                   ["package.shipment.updated", "package.invoice.updated"]])
def test_patterns_matching_a_published_type_are_accepted(writer, types):
    assert _create(writer, types).status_code == 201


def test_valid_types_are_the_state_machines_and_the_published_events():
    types = set(event_types())
    assert {f"package.status.{s.slug}" for s in PackageStatus} <= types
    assert {f"transfer.status.{s.value}" for s in TransferStatus} <= types
    assert {"package.created", "package.status.transitioned", "transfer.status.created",
            "transfer.status.transitioned", "stock_location.created", "stock_location.updated",
            "package.blocked", "package.unblocked", "package.shipment.updated",
            "package.invoice.updated"} <= types
    assert "package.status.cancelled" not in types and "transfer.status.canceled" not in types


def test_every_event_the_outbox_writes_is_a_valid_type(django_capture_on_commit_callbacks):
    package = make_package(PackageStatus.PACKAGING_COMPLETED)
    package_run("ship", package_id=package.pk, actor=Actor("api", "erp"), carrier="C",
                tracking_number="T")
    package_run("update_shipment", package_id=package.pk, actor=Actor("api", "erp"), carrier="D",
                tracking_number="T2")
    held = make_package(PackageStatus.PENDING)
    package_run("block", package_id=held.pk, actor=Actor("api", "erp"), reason="address check")
    package_run("unblock", package_id=held.pk, actor=Actor("api", "erp"))
    from locations.services import stock_location_save
    from locations.tests.factories import StockLocationFactory

    stock_location_save(location=StockLocationFactory.build(), name="Depot")
    events = list(OutboxEvent.objects.exclude(type="stock.level.raised"))
    assert {e.type for e in events} >= {"package.status.transitioned", "stock_location.created",
                                        "package.shipment.updated", "package.blocked",
                                        "package.unblocked"}
    for event in events:
        assert event.type in event_types()
        assert event.status_type is None or event.status_type in event_types()


def test_event_types_endpoint_lists_them_for_any_token():
    operator = get_user_model().objects.create_user("op")
    client, _ = api_client(user=operator, read_only=True)
    response = client.get("/api/v1/webhooks/event-types/")
    assert response.status_code == 200
    assert response.json() == {"event_types": event_types(),
                               "event_type_styles": ["transitioned", "per_state"]}


def test_admin_form_refuses_unknown_event_types_and_unsafe_urls(client, staff):
    client.force_login(staff)
    url = "/admin/oms/webhooksubscription/add/"
    form = {"name": "erp", "target_url": f"https://{HOST}/h", "event_types": '["package.refused"]',
            "event_type_style": "transitioned", "is_active": "on"}
    response = client.post(url, form)
    assert response.status_code == 200  # the form again, with the error on its field
    assert "package.status.shipped" in response.context["adminform"].form.errors["event_types"][0]
    response = client.post(url, {**form, "event_types": '["package.*"]',
                                 "target_url": f"https://user:pw@{HOST}/h"})
    assert "credentials" in response.context["adminform"].form.errors["target_url"][0]
    assert not WebhookSubscription.objects.exists()
    response = client.post(url, {**form, "event_types": '["package.*"]', "event_type_style": "per_state"})
    assert response.status_code == 302
    assert WebhookSubscription.objects.get().event_type_style == "per_state"


def test_event_type_style_through_the_api(writer):
    body = _create(writer, ["package.*"]).json()
    assert body["event_type_style"] == "transitioned"
    response = writer.patch(f"{SUBS}{body['id']}/", {"event_type_style": "per_state"}, format="json")
    assert response.status_code == 200 and response.json()["event_type_style"] == "per_state"
    assert WebhookSubscription.objects.get().event_type_style == "per_state"
    response = writer.patch(f"{SUBS}{body['id']}/", {"event_type_style": "akinon"}, format="json")
    assert response.status_code == 400 and "event_type_style" in response.json()["errors"]


def test_read_only_tokens_never_see_secrets_nor_rotate_them(writer, staff):
    created = _create(writer, ["package.*"]).json()
    assert created["secret"].startswith("whsec_")
    reader, _ = api_client(user=staff, read_only=True)
    listed = reader.get(SUBS).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    detail = reader.get(f"{SUBS}{created['id']}/").json()
    for answer in (*rows, detail):
        assert answer["id"] == created["id"]
        assert "secret" not in answer and "previous_secret" not in answer
        assert "whsec_" not in str(answer)
    response = reader.post(f"{SUBS}{created['id']}/rotate-secret/")
    assert response.status_code == 403
    assert WebhookSubscription.objects.get().secret == created["secret"]
    assert writer.get(f"{SUBS}{created['id']}/").json()["secret"] == created["secret"]
