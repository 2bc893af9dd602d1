"""Holds (block / unblock) and the data actions (update_shipment, update_invoice): a blocked
package keeps its state and stock and refuses every other action; the re-check and the
transfer hooks pass it over; unblock lets it go on. Every action from every state is in
test_services / test_api_actions; here what is particular to these four."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from locations.models import OperatorAssignment, StockLevel
from locations.services import stock_level_set
from oms.actions.actors import Actor, system_actor
from oms.actions.engine import Entry
from oms.actions.errors import ActionNotAllowed, InvalidInput, OnHold
from oms.api.testing import api_client
from oms.events.models import OutboxEvent
from oms.testing import run_concurrently
from oms.webhooks.delivery import webhook_fan_out
from oms.webhooks.models import WebhookDelivery, WebhookSubscription
from packages.actions import ACTIONS
from packages.brands import brand_check_disabled_actions
from packages.engine import package_act, package_allowed_actions, package_run
from packages.events import PACKAGE_EVENT_TYPES
from packages.models import HOLDABLE_STATES, Package, PackageTransition, Status
from packages.rescheduling import package_recheck_out_of_stock
from packages.tests.factories import BrandFactory
from packages.tests.helpers import make_package, stock_snapshot
from packages.tests.spec import PACKAGE_ACTIONS, WHO
from packages.tests.test_services import _kwargs
from transfers.engine import transfer_run
from transfers.tests.factories import make_transfer

pytestmark = pytest.mark.django_db

OPERATOR = Actor("user", "operator")
INTEGRATOR = Actor("api", "integrator")
ACTOR_FOR = {"O": OPERATOR, "T": Actor("user", "staff", staff=True), "A": INTEGRATOR, "S": system_actor()}


def _written():
    return (PackageTransition.objects.count(), OutboxEvent.objects.count(), stock_snapshot(),
            list(Package.objects.order_by("pk").values()))


def _blocked(state=Status.PENDING, reason="customer called", **fields) -> Package:
    package = make_package(state, quantities=(2, 1), **fields)
    return package_run("block", package_id=package.pk, actor=OPERATOR, reason=reason)


# --- block and unblock ------------------------------------------------------------------------

@pytest.mark.parametrize("state", sorted(HOLDABLE_STATES))
def test_block_then_unblock_returns_to_the_same_state_with_its_stock(state):
    package = make_package(state, quantities=(2, 1))
    if state == Status.PENDING_TRANSFER:  # a transfer still on its way
        make_transfer("in_transit", package=package, quantities=(1,))
    stock = stock_snapshot()

    blocked = package_run("block", package_id=package.pk, actor=OPERATOR, reason="  fraud check ")

    assert (blocked.status, blocked.version, blocked.block_reason) == (state, 2, "fraud check")
    assert blocked.blocked_at is not None and blocked.blocked_by == "user:operator"
    assert stock_snapshot() == stock  # reservations and picked units stay
    assert package_allowed_actions(blocked, actor_kind="user") == ["unblock"]

    released = package_run("unblock", package_id=package.pk, actor=INTEGRATOR, reason="cleared")

    package.refresh_from_db()
    assert package.status == released.status == state
    assert package.version == 3
    assert (package.blocked_at, package.block_reason, package.blocked_by) == (None, "", "")
    assert stock_snapshot() == stock
    log = list(PackageTransition.objects.filter(package=package).exclude(
        action="request_cancellation").values_list("action", "from_status", "to_status", "reason"))
    assert log == [("block", state, state, "fraud check"), ("unblock", state, state, "cleared")]
    assert PackageTransition.objects.get(package=package, action="unblock").payload == {
        "block_reason": "fraud check", "blocked_by": "user:operator"}
    events = OutboxEvent.objects.filter(aggregate_type="package", aggregate_id=package.pk).order_by("pk")
    assert [e.type for e in events] == ["package.blocked", "package.unblocked"]
    assert events[0].payload["package"]["blocked"]["reason"] == "fraud check"
    assert events[1].payload["package"]["blocked"] is None
    assert events[0].payload["transition"]["from_status"] == events[0].payload["transition"]["to_status"]


@pytest.mark.parametrize("action", sorted(set(ACTIONS) - {"unblock"}))
def test_a_blocked_package_refuses_every_other_action_and_writes_nothing(action):
    # a state it runs from if a package can be blocked there, else Pending (where the hold,
    # checked first, refuses it all the same)
    state = min(PACKAGE_ACTIONS[action][0] & HOLDABLE_STATES or {Status.PENDING})
    delivery = (Package.DeliveryType.CLICK_AND_COLLECT if action == "mark_ready_for_pickup"
                else Package.DeliveryType.SHIP)
    package = make_package(state, quantities=(2, 1), delivery_type=delivery)
    if action == "transfer_lost":
        make_transfer("cancelled", package=package, quantities=(1,))
    kwargs = _kwargs(action, package)
    # blocked as if in that state (block itself is tried on a package already blocked)
    Package.objects.filter(pk=package.pk).update(blocked_at=timezone.now(), block_reason="audit",
                                                  blocked_by="user:boss")
    actor = ACTOR_FOR[WHO[action][0]]
    before = _written()

    with pytest.raises(OnHold) as excinfo:
        package_run(action, package_id=package.pk, actor=actor, **kwargs)

    error = excinfo.value.as_dict()
    assert (error["code"], error["reason"], error["blocked_by"]) == ("blocked", "audit", "user:boss")
    assert error["current_status"]["code"] == state
    assert error["allowed_actions"] == (["unblock"] if actor.kind != "system" else [])
    assert _written() == before


def test_blocked_answers_409_blocked_in_the_api_and_allowed_actions_is_unblock():
    package = _blocked(Status.IN_PROGRESS, reason="address under review")
    client, _ = api_client()
    before = _written()

    response = client.post(f"/api/v1/packages/{package.number}/actions/complete_packaging/", {},
                           format="json")

    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["reason"]) == ("blocked", "address under review")
    assert body["allowed_actions"] == ["unblock"] and body["current_status"]["code"] == 200
    assert _written() == before
    detail = client.get(f"/api/v1/packages/{package.number}/").json()
    assert detail["allowed_actions"] == ["unblock"]
    assert detail["blocked"]["reason"] == "address under review"
    assert detail["blocked"]["blocked_by"] == "user:operator"


def test_unblock_of_a_package_not_blocked_is_409_not_blocked():
    package = make_package(Status.PENDING)
    before = _written()
    with pytest.raises(ActionNotAllowed) as excinfo:
        package_run("unblock", package_id=package.pk, actor=OPERATOR)
    assert excinfo.value.code == "not_blocked"
    assert _written() == before


@pytest.mark.parametrize("reason", ["", "   "])
def test_block_needs_a_reason(reason):
    package = make_package(Status.PENDING)
    before = _written()
    with pytest.raises(InvalidInput) as excinfo:
        package_run("block", package_id=package.pk, actor=OPERATOR, reason=reason)
    assert excinfo.value.extra["field"] == "reason"
    assert _written() == before
    client, _ = api_client()
    response = client.post(f"/api/v1/packages/{package.number}/actions/block/", {}, format="json")
    assert response.status_code == 400 and "reason" in response.json()["errors"]


def test_block_is_switched_per_brand_and_unblock_always_on():
    brand = BrandFactory(slug="no-holds", disabled_actions=["block"])
    package = make_package(Status.PENDING, brand=brand)
    assert "block" not in package_allowed_actions(package)
    with pytest.raises(ActionNotAllowed) as excinfo:
        package_run("block", package_id=package.pk, actor=OPERATOR, reason="x")
    assert excinfo.value.code == "action_disabled"
    brand_check_disabled_actions(["block", "update_shipment", "update_invoice"])
    with pytest.raises(Exception, match="unblock"):
        brand_check_disabled_actions(["unblock"])


def test_every_action_publishes_a_listed_event_type():
    assert {action.event or "package.status.transitioned" for action in ACTIONS.values()} <= set(
        PACKAGE_EVENT_TYPES)
    assert {"package.blocked", "package.unblocked", "package.shipment.updated",
            "package.invoice.updated"} <= set(PACKAGE_EVENT_TYPES)


def test_webhooks_can_subscribe_to_the_new_event_types():
    hold_only = WebhookSubscription.objects.create(name="holds", target_url="https://erp.example/h",
                                                   event_types=["package.blocked"])
    every = WebhookSubscription.objects.create(name="all", target_url="https://erp.example/a",
                                               event_types=["package.*"])
    package = _blocked(Status.PENDING)
    event = OutboxEvent.objects.get(type="package.blocked", aggregate_id=package.pk)
    webhook_fan_out(events=[event])
    deliveries = {d.subscription_id: d.event_type for d in WebhookDelivery.objects.all()}
    assert deliveries == {hold_only.pk: "package.blocked", every.pk: "package.blocked"}


# --- the automatic re-check ---------------------------------------------------------------------

def _out_of_stock_with_stock_back():
    package = make_package(Status.PRODUCT_OUT_OF_STOCK, quantities=(1,), on_hand=0)
    Package.objects.filter(pk=package.pk).update(next_stock_check_at=timezone.now() - dt.timedelta(minutes=1))
    return package


def test_recheck_passes_over_a_blocked_package_and_reschedules_it_after_unblock():
    package = _out_of_stock_with_stock_back()
    package_run("block", package_id=package.pk, actor=OPERATOR, reason="customer asked to wait")
    StockLevel.objects.filter(sku=package.items.get().sku).update(on_hand=5)
    before = list(Package.objects.filter(pk=package.pk).values())

    result = package_recheck_out_of_stock(brand_id=package.brand_id)  # the beat's run

    assert result.rescheduled == [] and result.still_short == 0
    assert list(Package.objects.filter(pk=package.pk).values()) == before  # not even stamped

    package_run("unblock", package_id=package.pk, actor=OPERATOR)
    package.refresh_from_db()
    assert package.next_stock_check_at <= timezone.now()  # due at once
    assert package_recheck_out_of_stock(brand_id=package.brand_id).rescheduled == [package.pk]
    package.refresh_from_db()
    assert package.status == Status.IN_PROGRESS
    assert StockLevel.objects.get(sku=package.items.get().sku).reserved == 1


def test_stock_rise_passes_over_a_blocked_package(django_capture_on_commit_callbacks):
    package = _out_of_stock_with_stock_back()
    package_run("block", package_id=package.pk, actor=OPERATOR, reason="customer asked to wait")
    sku = package.items.get().sku
    with django_capture_on_commit_callbacks(execute=True):  # the relay runs the targeted re-check
        stock_level_set(location=package.location, sku=sku, on_hand=3)
    package.refresh_from_db()
    assert package.status == Status.PRODUCT_OUT_OF_STOCK and package.is_blocked
    assert StockLevel.objects.get(sku=sku).reserved == 0

    package_run("unblock", package_id=package.pk, actor=OPERATOR)
    package_recheck_out_of_stock(brand_id=package.brand_id)
    package.refresh_from_db()
    assert package.status == Status.IN_PROGRESS


def test_engine_refuses_the_system_a_package_blocked_after_the_recheck_read_it():
    package = _out_of_stock_with_stock_back()
    StockLevel.objects.filter(sku=package.items.get().sku).update(on_hand=5)
    _ = package_run("block", package_id=package.pk, actor=OPERATOR, reason="late hold")
    (outcome,) = package_act("reschedule", [Entry(package.pk)], actor=system_actor("system:recheck"),
                             skip_locked=True)
    assert isinstance(outcome.error, OnHold)
    package.refresh_from_db()
    assert package.status == Status.PRODUCT_OUT_OF_STOCK


# --- transfers while blocked --------------------------------------------------------------------

def test_transfer_arriving_while_blocked_moves_the_package_on_unblock():
    package = make_package(Status.PENDING_TRANSFER, quantities=())
    transfer = make_transfer("in_transit", package=package, quantities=(1,))
    package_run("block", package_id=package.pk, actor=OPERATOR, reason="audit")

    transfer_run("receive", transfer_id=transfer.pk, actor=OPERATOR)

    package.refresh_from_db()
    assert package.status == Status.PENDING_TRANSFER and package.is_blocked
    assert StockLevel.objects.get(location=package.location).reserved == 1  # received for it

    package_run("unblock", package_id=package.pk, actor=OPERATOR)

    package.refresh_from_db()
    assert package.status == Status.READY_TO_PACKAGING
    assert list(PackageTransition.objects.filter(package=package).values_list("action", "actor"))[-2:] == [
        ("unblock", "user:operator"), ("transfers_arrived", "system")]


def test_transfer_cancelled_while_blocked_is_acted_on_at_unblock():
    package = make_package(Status.PENDING_TRANSFER, quantities=())
    transfer = make_transfer("waiting", package=package, quantities=(1,))
    package_run("block", package_id=package.pk, actor=OPERATOR, reason="audit")

    transfer_run("cancel", transfer_id=transfer.pk, actor=OPERATOR)

    package.refresh_from_db()
    assert package.status == Status.PENDING_TRANSFER
    package_run("unblock", package_id=package.pk, actor=OPERATOR)
    package.refresh_from_db()
    assert package.status == Status.TO_BE_RESCHEDULED


# --- data actions -------------------------------------------------------------------------------

def test_update_shipment_changes_the_tracking_number_on_the_ticket(client, django_user_model):
    package = make_package(Status.SHIPPED, carrier="Correios", tracking_number="OLD123")
    user = django_user_model.objects.create_user("olivia")
    OperatorAssignment.objects.create(user=user, location=package.location)
    client.force_login(user)

    response = client.post(reverse("packages:action", args=[package.number, "update_shipment"]),
                           {"version": 1, "carrier": "Jadlog", "tracking_number": "NEW456"})

    assert response.status_code == 302
    package.refresh_from_db()
    assert (package.status, package.carrier, package.tracking_number, package.version) == (
        Status.SHIPPED, "Jadlog", "NEW456", 2)
    log = PackageTransition.objects.get(package=package)
    assert (log.action, log.from_status, log.to_status) == ("update_shipment", 700, 700)
    assert log.payload["previous"] == {"carrier": "Correios", "tracking_number": "OLD123"}
    event = OutboxEvent.objects.get(aggregate_id=package.pk)
    assert event.type == "package.shipment.updated"
    assert event.payload["package"]["tracking_number"] == "NEW456"
    ticket = client.get(reverse("packages:ticket", args=[package.number])).content.decode()
    assert "NEW456" in ticket and "OLD123" not in ticket


def test_update_shipment_refuses_a_tracking_number_unfit_for_a_barcode():
    package = make_package(Status.DELIVERY_ATTEMPTED, tracking_number="T1")
    before = _written()
    with pytest.raises(InvalidInput):
        package_run("update_shipment", package_id=package.pk, actor=OPERATOR, carrier="C",
                    tracking_number="has space")
    assert _written() == before


def test_update_invoice_after_handover_replaces_it_without_moving():
    package = make_package(Status.DELIVERED, invoice_number="NF-1", invoice_date=dt.date(2026, 1, 1))
    client, _ = api_client()

    response = client.post(f"/api/v1/packages/{package.number}/actions/update_invoice/", {
        "invoice_number": "NF-2", "invoice_date": "2026-02-03",
        "invoice_url": "https://invoices.example/NF-2.pdf"}, format="json")

    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["status"]["code"] == 800
    assert (data["invoice_number"], data["invoice_date"]) == ("NF-2", "2026-02-03")
    assert data["transitions"][-1]["payload"]["previous"] == {"invoice_number": "NF-1",
                                                              "invoice_date": "2026-01-01"}
    event = OutboxEvent.objects.get(aggregate_id=package.pk)
    assert event.type == "package.invoice.updated"
    assert event.payload["package"]["invoice_date"] == "2026-02-03"


def test_update_invoice_is_refused_in_pending_invoice_where_attach_invoice_ships():
    package = make_package(Status.PENDING_INVOICE)
    with pytest.raises(ActionNotAllowed) as excinfo:
        package_run("update_invoice", package_id=package.pk, actor=OPERATOR, invoice_number="NF-1",
                    invoice_date=dt.date(2026, 1, 1))
    assert excinfo.value.code == "transition_not_allowed"
    assert "attach_invoice" in package_allowed_actions(package, actor_kind="api")


# --- bulk API, list filter ----------------------------------------------------------------------

def test_bulk_block_then_bulk_unblock():
    pending, ready, shipped = (make_package(s) for s in (Status.PENDING, Status.READY_TO_PACKAGING,
                                                          Status.SHIPPED))
    already = _blocked(Status.IN_PROGRESS, reason="earlier")
    client, _ = api_client()

    response = client.post("/api/v1/packages/actions/block/", {"packages": [
        {"number": n, "reason": "inventory count"}
        for n in (pending.number, ready.number, shipped.number, already.number, "NOPE")]}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["summary"] == {"done": 2, "not_allowed": 2, "not_found": 1, "failed": 0}
    results = {r["number"]: r for r in body["results"]}
    assert results[pending.number]["result"] == results[ready.number]["result"] == "done"
    assert results[shipped.number]["error"]["code"] == "transition_not_allowed"
    assert results[already.number]["error"]["code"] == "blocked"
    assert results[already.number]["error"]["reason"] == "earlier"
    assert results[already.number]["allowed_actions"] == ["unblock"]
    assert set(Package.objects.filter(blocked_at__isnull=False).values_list("number", flat=True)) == {
        pending.number, ready.number, already.number}
    assert Package.objects.get(pk=ready.pk).block_reason == "inventory count"

    response = client.post("/api/v1/packages/actions/unblock/", {"packages": [
        {"number": pending.number}, {"number": ready.number}, {"number": shipped.number}]}, format="json")

    assert response.json()["summary"] == {"done": 2, "not_allowed": 1, "not_found": 0, "failed": 0}
    assert not Package.objects.filter(pk__in=[pending.pk, ready.pk], blocked_at__isnull=False).exists()
    assert Package.objects.get(pk=ready.pk).status == Status.READY_TO_PACKAGING


def test_package_list_filters_by_blocked():
    blocked = _blocked(Status.PENDING)
    free = make_package(Status.PENDING)
    client, _ = api_client()

    def numbers(query):
        response = client.get(f"/api/v1/packages/?{query}")
        assert response.status_code == 200, response.json()
        return {p["number"] for p in response.json()["results"]}

    assert numbers("blocked=true") == {blocked.number}
    assert numbers("blocked=false") == {free.number}
    assert numbers("") == {blocked.number, free.number}
    assert client.get("/api/v1/packages/?blocked=maybe").status_code == 400


# --- operator screens and admin -----------------------------------------------------------------

def test_operator_blocks_with_a_reason_sees_the_banner_and_unblocks(operator_at):
    package = make_package(Status.IN_PROGRESS)
    client = operator_at(package.location)
    detail = reverse("packages:detail", args=[package.number])
    block_url = reverse("packages:action", args=[package.number, "block"])
    assert block_url in client.get(detail).content.decode()  # offered in Select Action
    form = client.get(block_url).content.decode()
    assert 'name="reason"' in form and "required" in form

    posted = client.post(block_url, {"version": 1, "reason": "Customer disputes the address"})
    assert posted.status_code == 302

    page = client.get(detail)
    html = page.content.decode()
    assert 'data-testid="blocked-banner"' in html and "Blocked: Customer disputes the address" in html
    assert page.context["primary"]["name"] == "unblock" and page.context["secondary"] == []
    refused = client.post(reverse("packages:action", args=[package.number, "complete_packaging"]),
                          {"version": 2}, follow=True)
    assert any("blocked" in str(m) for m in refused.context["messages"])
    package.refresh_from_db()
    assert package.status == Status.IN_PROGRESS and package.version == 2

    client.post(reverse("packages:action", args=[package.number, "unblock"]), {"version": 2})
    package.refresh_from_db()
    assert not package.is_blocked and package.version == 3
    assert 'data-testid="blocked-banner"' not in client.get(detail).content.decode()


def test_dashboards_and_list_show_blocked_packages_per_location(operator_at):
    blocked = _blocked(Status.PENDING)
    _blocked(Status.PRODUCT_OUT_OF_STOCK, location=blocked.location)
    free = make_package(Status.PENDING, location=blocked.location)
    client = operator_at(blocked.location)

    cards = client.get(reverse("packages:movements")).context["cards"]
    assert [card["blocked"] for card in cards] == [2]
    location_page = client.get(reverse("locations:detail", args=[blocked.location.code]))
    assert location_page.context["blocked_count"] == 2
    listed = client.get(reverse("packages:list"), {"blocked": "true"})
    numbers = [p.number for p in listed.context["page_obj"].object_list]
    assert blocked.number in numbers and free.number not in numbers and len(numbers) == 2
    assert "BLOCKED" in listed.content.decode()
    api, _ = api_client()
    movements = api.get(f"/api/v1/locations/{blocked.location.code}/").json()["movements"]
    assert movements["blocked_packages"] == 2


def test_admin_block_asks_for_the_reason_then_blocks(client):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    package = make_package(Status.PENDING)
    changelist = reverse("admin:packages_package_changelist")
    first = client.post(changelist, {"action": "action_block", "_selected_action": [package.pk]})
    assert b'name="reason"' in first.content
    client.post(changelist, {"action": "action_block", "_selected_action": [package.pk], "apply": "1",
                             "reason": "chargeback"}, follow=True)
    package.refresh_from_db()
    assert (package.block_reason, package.blocked_by) == ("chargeback", "user:boss")
    assert client.get(changelist, {"blocked": "true"}).context["cl"].result_count == 1


# --- concurrency (PostgreSQL) -------------------------------------------------------------------

@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_block_racing_complete_packaging_leaves_one_consistent_outcome():
    package = make_package(Status.IN_PROGRESS, quantities=(1,), on_hand=3)

    def act(i):
        if i % 2:
            return package_run("complete_packaging", package_id=package.pk, actor=OPERATOR)
        return package_run("block", package_id=package.pk, actor=OPERATOR, reason=f"hold {i}")

    results = run_concurrently(6, act)

    wins = [r for r in results if not isinstance(r, Exception)]
    assert all(isinstance(r, ActionNotAllowed) for r in results if isinstance(r, Exception))
    package.refresh_from_db()
    level = StockLevel.objects.get(location=package.location)
    log = list(PackageTransition.objects.filter(package=package).values_list("action", flat=True))
    if log[0] == "block":  # everything after it refused, the stock untouched
        assert log == ["block"] and package.status == Status.IN_PROGRESS and package.is_blocked
        assert (level.on_hand, level.reserved) == (3, 1)
    else:  # packaging first; one block may follow (Packaging Completed can be blocked)
        assert log in (["complete_packaging"], ["complete_packaging", "block"])
        assert package.status == Status.PACKAGING_COMPLETED
        assert package.is_blocked is (log[-1] == "block")
        assert (level.on_hand, level.reserved) == (2, 0)
    assert len(log) == len(wins) == package.version - 1
