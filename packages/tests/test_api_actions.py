"""API: every package action from every state, errors, If-Match, scope, bulk, concurrency."""

import datetime as dt

import pytest
from django.utils import timezone

from locations.models import StockLevel
from locations.tests.factories import StockLocationFactory
from oms.api.testing import api_client
from oms.events.models import OutboxEvent
from packages.actions import ACTIONS
from packages.models import Package, PackageTransition, Status
from packages.tests.factories import BrandFactory, DenialReasonFactory
from packages.tests.helpers import make_package, split_parts, stock_snapshot
from packages.tests.spec import ALL_STATES, PACKAGE_ACTIONS, WHO

pytestmark = pytest.mark.django_db


def _body(action, package):
    if action == "ship":
        return {"carrier": "ACME", "tracking_number": "TRK1"}
    if action in ("report_missing", "report_defective", "report_missing_items"):
        return {"items": [{"sku": package.items.first().sku.code, "quantity": 1}]}
    if action == "split":
        return split_parts(package, StockLocationFactory())
    if action == "refuse":
        return {"denial_reason_id": DenialReasonFactory().pk}
    if action == "reassign_location":
        return {"location": StockLocationFactory().code}
    if action in ("attach_invoice", "update_invoice"):
        return {"invoice_number": "NF-1", "invoice_date": "2026-11-30"}
    if action == "update_shipment":
        return {"carrier": "ACME", "tracking_number": "TRK2"}
    if action == "mark_delivery_failed":
        return {"reason": "address not found"}
    if action == "block":
        return {"reason": "customer called"}
    return {}


def _package_for(action, state):
    delivery = (Package.DeliveryType.CLICK_AND_COLLECT if action == "mark_ready_for_pickup"
                else Package.DeliveryType.SHIP)
    # unblock needs a blocked package (every other action a package that is not)
    hold = {"blocked_at": timezone.now(), "block_reason": "audit"} if action == "unblock" else {}
    package = make_package(state, quantities=(2, 1), delivery_type=delivery, **hold)
    if action == "unblock" and state == Status.PENDING_TRANSFER:  # a transfer still travels
        from transfers.tests.factories import make_transfer

        make_transfer("in_transit", package=package, quantities=(1,))
    return package


def _written():
    return (PackageTransition.objects.count(), OutboxEvent.objects.count(), stock_snapshot(),
            list(Package.objects.order_by("pk").values()))


def _url(package, action):
    return f"/api/v1/packages/{package.number}/actions/{action}/"


@pytest.mark.parametrize("action", sorted(PACKAGE_ACTIONS))
@pytest.mark.parametrize("state", sorted(ALL_STATES))
def test_every_action_from_every_state(action, state):
    client, _ = api_client()
    package = _package_for(action, state)
    body = _body(action, package)
    sources, targets = PACKAGE_ACTIONS[action]
    before = _written()

    response = client.post(_url(package, action), body, format="json")

    if "A" not in WHO[action]:  # system-only: no endpoint, whatever the state
        assert response.status_code == 404, response.json()
        assert response.json()["code"] == "not_found"
        assert _written() == before
        return
    if state not in sources:
        assert response.status_code == 409, response.json()
        data = response.json()
        assert data["code"] == "transition_not_allowed"
        assert data["current_status"]["code"] == state
        assert data["current_status"]["slug"] == Status(state).slug
        assert isinstance(data["allowed_actions"], list)
        assert action not in data["allowed_actions"]
        assert _written() == before, "a refused action must write nothing"
        return
    assert response.status_code == 200, response.json()
    data = response.json()
    package.refresh_from_db()
    assert package.status in targets
    assert data["status"] == {"code": package.status, "slug": Status(package.status).slug,
                              "label": Status(package.status).label}
    assert data["version"] == package.version == 2
    assert response["ETag"] == '"2"'
    assert data["transitions"][-1]["action"] == action
    log = PackageTransition.objects.filter(package=package, action=action)
    assert log.count() == 1 and log.get().actor.startswith("api:")


def test_allowed_actions_in_409_are_this_clients_and_this_brands():
    brand = BrandFactory(slug="no-cancel", disabled_actions=["request_cancellation"])
    package = make_package(Status.PACKAGING_COMPLETED, brand=brand)
    client, _ = api_client()
    response = client.post(_url(package, "hand_over"), {}, format="json")
    assert response.status_code == 409
    # the integrator's actions from Packaging Completed (docs/state-machine.md), in the
    # declarations' order, but request_cancellation (switched off for the brand),
    # mark_ready_for_pickup (click-and-collect only) and unblock (the package is not blocked)
    expected = [name for name in ACTIONS if 500 in PACKAGE_ACTIONS[name][0] and "A" in WHO[name]
                and name not in ("request_cancellation", "mark_ready_for_pickup", "unblock")]
    assert "ship" in expected and "attach_invoice" in expected
    assert response.json()["allowed_actions"] == expected
    detail = client.get(f"/api/v1/packages/{package.number}/").json()
    assert detail["allowed_actions"] == expected


def test_brand_switched_off_action_is_refused():
    brand = BrandFactory(slug="no-ship", disabled_actions=["ship"])
    package = make_package(Status.PACKAGING_COMPLETED, brand=brand)
    client, _ = api_client()
    response = client.post(_url(package, "ship"), _body("ship", package), format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "action_disabled"


@pytest.mark.parametrize("body, field", [
    ({}, "carrier"),
    ({"carrier": "ACME"}, "tracking_number"),
    ({"carrier": "A" * 65, "tracking_number": "T"}, "carrier"),
    ({"carrier": "ACME", "tracking_number": "T", "trackingnumber": "x"}, "trackingnumber"),
    ({"carrier": "ACME", "tracking_number": "T", "status": 700}, "status"),
    ({"carrier": "   ", "tracking_number": "T"}, "carrier"),
])
def test_bad_input_is_400_with_field_errors_and_writes_nothing(body, field):
    package = make_package(Status.PACKAGING_COMPLETED)
    client, _ = api_client()
    before = _written()
    response = client.post(_url(package, "ship"), body, format="json")
    assert response.status_code == 400, response.json()
    data = response.json()
    assert data["code"] == "invalid"
    assert field in data["errors"]
    assert _written() == before


def test_domain_input_errors_are_400_naming_the_field():
    package = make_package(Status.IN_PROGRESS)
    client, _ = api_client()
    before = _written()
    response = client.post(_url(package, "report_missing"),
                           {"items": [{"sku": "NOT-IN-PACKAGE", "quantity": 1}]}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "items" and "items" in response.json()["errors"]
    response = client.post(_url(package, "refuse"), {"denial_reason_id": 999999}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "denial_reason"
    response = client.post(_url(package, "reassign_location"), {"location": "NOWHERE"}, format="json")
    assert response.status_code == 400  # and 409 would follow from the state anyway
    assert _written() == before


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'"text"', b"{"])
def test_malformed_bodies_are_4xx(payload):
    package = make_package(Status.PACKAGING_COMPLETED)
    client, _ = api_client()
    response = client.post(_url(package, "ship"), payload, content_type="application/json")
    assert response.status_code == 400
    response = client.post(_url(package, "ship"), b"carrier=x",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


def test_reschedule_without_stock_is_409_naming_the_shortage():
    package = make_package(Status.PRODUCT_OUT_OF_STOCK, quantities=(3,), on_hand=1)
    client, _ = api_client()
    response = client.post(_url(package, "reschedule"), {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    assert response.json()["shortages"][0]["needed"] == 3


def test_report_missing_answers_the_canceled_package_with_its_replacement():
    package = make_package(Status.IN_PROGRESS, quantities=(2,), on_hand=5)
    client, _ = api_client()
    sku = package.items.get().sku.code
    response = client.post(_url(package, "report_missing"),
                           {"items": [{"sku": sku, "quantity": 1}]}, format="json")
    assert response.status_code == 200
    data = response.json()
    assert data["status"]["slug"] == "canceled"
    replacement = Package.objects.get(replaces=package)
    assert data["replacement"] == replacement.number


def test_if_match_mismatch_is_412_and_changes_nothing():
    package = make_package(Status.PACKAGING_COMPLETED)
    client, _ = api_client()
    before = _written()
    response = client.post(_url(package, "ship"), _body("ship", package), format="json",
                           HTTP_IF_MATCH='"7"')
    assert response.status_code == 412
    assert response.json() == {"code": "version_mismatch", "detail": response.json()["detail"],
                               "current_version": 1}
    assert _written() == before
    etag = client.get(f"/api/v1/packages/{package.number}/")["ETag"]
    response = client.post(_url(package, "ship"), _body("ship", package), format="json",
                           HTTP_IF_MATCH=etag)
    assert response.status_code == 200
    assert response["ETag"] == '"2"'
    # the version moved on: the old ETag no longer matches
    response = client.post(_url(package, "record_delivery_attempt"), {}, format="json",
                           HTTP_IF_MATCH=etag)
    assert response.status_code == 412


def test_read_only_token_cannot_act():
    package = make_package(Status.PACKAGING_COMPLETED)
    client, _ = api_client(read_only=True)
    before = _written()
    response = client.post(_url(package, "ship"), _body("ship", package), format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "read_only_token"
    assert client.get(f"/api/v1/packages/{package.number}/").status_code == 200
    assert _written() == before


def test_package_outside_the_token_scope_is_404_and_untouched():
    package = make_package(Status.PACKAGING_COMPLETED)
    other = StockLocationFactory()
    client, _ = api_client(locations=[other])
    before = _written()
    response = client.post(_url(package, "ship"), _body("ship", package), format="json")
    assert response.status_code == 404
    assert client.get(f"/api/v1/packages/{package.number}/").status_code == 404
    assert _written() == before
    scoped, _ = api_client(locations=[package.location])
    assert scoped.post(_url(package, "ship"), _body("ship", package), format="json").status_code == 200


def test_reassign_to_a_location_outside_the_scope_is_refused():
    package = make_package(Status.TO_BE_RESCHEDULED)
    outside = StockLocationFactory()
    client, _ = api_client(locations=[package.location])
    response = client.post(_url(package, "reassign_location"), {"location": outside.code}, format="json")
    assert response.status_code == 400
    assert "location" in response.json()["errors"]


def test_unknown_package_and_action_are_404():
    client, _ = api_client()
    assert client.post("/api/v1/packages/NOPE/actions/ship/", {"carrier": "a", "tracking_number": "b"},
                       format="json").status_code == 404
    package = make_package(Status.PENDING)
    response = client.post(f"/api/v1/packages/{package.number}/actions/fly/", {}, format="json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_attach_invoice_from_pending_invoice_ships():
    brand = BrandFactory(slug="needs-invoice", requires_invoice=True)
    package = make_package(Status.PENDING_INVOICE, brand=brand)
    client, _ = api_client()
    response = client.post(_url(package, "attach_invoice"),
                           {"invoice_number": "NF-9", "invoice_date": "2026-01-02",
                            "invoice_url": "https://example.com/nf9.pdf"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"]["slug"] == "shipped"
    assert response.json()["invoice_date"] == "2026-01-02"


# --- bulk ----------------------------------------------------------------------------------

def _bulk_url(action):
    return f"/api/v1/packages/actions/{action}/"


def test_bulk_ship_500_with_20_in_the_wrong_state():
    location, brand = StockLocationFactory(), BrandFactory(slug="bulk")
    packages = [make_package(Status.PACKAGING_COMPLETED if i % 25 else Status.IN_PROGRESS,
                             location=location, brand=brand, number=f"B-{i:04d}")
                for i in range(500)]
    wrong = {p.number for p in packages if p.status == Status.IN_PROGRESS}
    assert len(wrong) == 20
    client, _ = api_client()
    body = {"packages": [{"number": p.number, "carrier": "ACME", "tracking_number": f"T{i}"}
                         for i, p in enumerate(packages)]}
    response = client.post(_bulk_url("ship"), body, format="json")
    assert response.status_code == 200
    data = response.json()
    assert data["summary"] == {"done": 480, "not_allowed": 20, "not_found": 0, "failed": 0}
    assert [r["number"] for r in data["results"]] == [p.number for p in packages]
    for result in data["results"]:
        if result["number"] in wrong:
            assert result["result"] == "not_allowed"
            assert result["status"]["slug"] == "in_progress"
            assert "ship" not in result["allowed_actions"]
        else:
            assert result["result"] == "done" and result["status"]["slug"] == "shipped"
    assert Package.objects.filter(status=Status.SHIPPED).count() == 480
    assert PackageTransition.objects.filter(action="ship").count() == 480


def test_bulk_reports_not_found_for_unknown_and_out_of_scope():
    mine = make_package(Status.PENDING)
    theirs = make_package(Status.PENDING)
    client, _ = api_client(locations=[mine.location])
    response = client.post(_bulk_url("start_preparing"),
                           {"packages": [{"number": mine.number}, {"number": theirs.number},
                                         {"number": "NOPE"}]}, format="json")
    assert response.status_code == 200
    results = {r["number"]: r["result"] for r in response.json()["results"]}
    assert results == {mine.number: "done", theirs.number: "not_found", "NOPE": "not_found"}
    theirs.refresh_from_db()
    assert theirs.status == Status.PENDING


def test_bulk_reports_other_domain_errors_as_failed():
    package = make_package(Status.PRODUCT_OUT_OF_STOCK, quantities=(3,), on_hand=0)
    client, _ = api_client()
    response = client.post(_bulk_url("reschedule"), {"packages": [{"number": package.number}]},
                           format="json")
    result = response.json()["results"][0]
    assert result["result"] == "failed" and result["error"]["code"] == "insufficient_stock"


@pytest.mark.parametrize("body", [
    {"packages": []},
    {"packages": [{"number": "A"}, {"number": "A"}]},
    {"packages": [{"number": f"N{i}"} for i in range(1001)]},
    {"numbers": ["A"]},
    [],
])
def test_bulk_bad_bodies_are_400(body):
    client, _ = api_client()
    response = client.post(_bulk_url("start_preparing"), body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_bulk_system_only_action_is_404_and_read_only_token_403():
    package = make_package(Status.PENDING_TRANSFER)
    client, _ = api_client()
    response = client.post(_bulk_url("transfers_arrived"), {"packages": [{"number": package.number}]},
                           format="json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    package.refresh_from_db()
    assert package.status == Status.PENDING_TRANSFER and package.version == 1
    reader, _ = api_client(read_only=True)
    response = reader.post(_bulk_url("start_preparing"), {"packages": [{"number": package.number}]},
                           format="json")
    assert response.status_code == 403


def test_stock_effects_of_complete_packaging_through_the_api():
    package = make_package(Status.IN_PROGRESS, quantities=(2,), on_hand=5)
    client, _ = api_client()
    response = client.post(_url(package, "complete_packaging"), {}, format="json")
    assert response.status_code == 200
    level = StockLevel.objects.get(sku=package.items.get().sku)
    assert (level.on_hand, level.reserved) == (3, 0)


def test_ship_by_and_dates_are_iso():
    package = make_package(Status.PENDING, ship_by=dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC))
    client, _ = api_client()
    assert client.get(f"/api/v1/packages/{package.number}/").json()["ship_by"] == "2026-12-01T10:00:00Z"
