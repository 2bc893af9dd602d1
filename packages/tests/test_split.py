"""Manual planning (split) and Product Not Found — Advanced (report_missing_items): what is
particular to these two. Every action from every state (409 and nothing written outside
their sources), a blocked package refusing them, and the capacity counter after random
sequences of them are in test_services, test_api_actions, test_holds and test_capacity."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.urls import reverse

from locations.models import StockLevel
from locations.tests.factories import StockLocationFactory
from oms.actions.actors import Actor
from oms.actions.errors import InsufficientStock, InvalidInput
from oms.api.testing import api_client
from oms.events.models import OutboxEvent
from oms.testing import run_concurrently
from packages.admin import PackageAdmin
from packages.engine import package_run
from packages.events import PACKAGE_EVENT_TYPES
from packages.models import Package, PackageItem, PackageTransition, Status
from packages.tests.helpers import make_package, stock_snapshot
from transfers.models import Transfer

pytestmark = pytest.mark.django_db

OPERATOR = Actor("user", "operator")
INTEGRATOR = Actor("api", "integrator")


def _written():
    return (PackageTransition.objects.count(), OutboxEvent.objects.count(), stock_snapshot(),
            list(Package.objects.order_by("pk").values()), list(PackageItem.objects.order_by("pk").values()),
            Transfer.objects.count())


def _level(location, sku) -> tuple[int, int]:
    level = StockLevel.objects.get(location=location, sku=sku)
    return level.on_hand, level.reserved


def _lines(package) -> list[tuple[str, int]]:
    return list(package.items.order_by("sku__code").values_list("sku__code", "quantity"))


def _world(state=Status.IN_PROGRESS, *, at_b=(0, 0, 5), on_hand=2):
    """A 3-item package (1 unit each) at its location A (``on_hand`` units of each SKU) and a
    second location B holding ``at_b`` units of the three SKUs."""
    package = make_package(state, quantities=(1, 1, 1), on_hand=on_hand)
    b = StockLocationFactory(code=f"B-{package.pk}")
    skus = [item.sku for item in package.items.order_by("id")]
    for sku, units in zip(skus, at_b, strict=True):
        StockLevel.objects.create(location=b, sku=sku, on_hand=units)
    return package, b, skus


def _parts(package, b, skus, *, require_pending=False) -> dict:
    """Items 1 and 2 stay at A, item 3 goes to B."""
    return {"parts": [
        {"location": package.location.code, "items": [{"sku": sku.code, "quantity": 1} for sku in skus[:2]]},
        {"location": b.code, "items": [{"sku": skus[2].code, "quantity": 1}]}],
        "require_pending": require_pending}


# --- split -----------------------------------------------------------------------------------------

def test_split_of_three_items_over_two_locations():
    package, b, skus = _world()
    a = package.location

    result = package_run("split", package_id=package.pk, actor=OPERATOR, **_parts(package, b, skus))

    package.refresh_from_db()
    assert (package.status, package.cancellation_reason, package.version) == (Status.CANCELED, "split", 2)
    assert result.status == Status.CANCELED
    at_a, at_b = Package.objects.filter(split_from=package).order_by("location_id")
    assert (at_a.location, at_b.location) == (a, b)
    assert (at_a.status, at_b.status) == (Status.PENDING, Status.PENDING)
    assert _lines(at_a) == [(skus[0].code, 1), (skus[1].code, 1)] and _lines(at_b) == [(skus[2].code, 1)]
    assert {at_a.order_number, at_b.order_number} == {package.order_number}
    # reservations moved: A keeps the two units of its part, B reserved the third
    assert [_level(a, sku) for sku in skus] == [(2, 1), (2, 1), (2, 0)]
    assert _level(b, skus[2]) == (5, 1)
    log = PackageTransition.objects.get(package=package, action="split")
    assert (log.from_status, log.to_status, log.reason) == (Status.IN_PROGRESS, Status.CANCELED, "split")
    assert [entry["number"] for entry in log.payload["packages"]] == [at_a.number, at_b.number]
    for new in (at_a, at_b):
        created = PackageTransition.objects.get(package=new)
        assert (created.action, created.payload) == ("create", {"split_from": package.number})
        event = OutboxEvent.objects.get(aggregate_type="package", aggregate_id=new.pk)
        assert (event.type, event.payload["package"]["split_from"]) == ("package.created", package.number)
    event = OutboxEvent.objects.get(aggregate_type="package", aggregate_id=package.pk)
    assert event.type == "package.status.transitioned"
    assert (event.payload["transition"]["action"], event.payload["package"]["status"]["code"]) == (
        "split", Status.CANCELED)


def test_the_split_links_show_in_the_api():
    package, b, skus = _world()
    client, _ = api_client()

    response = client.post(f"/api/v1/packages/{package.number}/actions/split/",
                           _parts(package, b, skus), format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    new_numbers = list(Package.objects.filter(split_from=package).order_by("location_id")
                       .values_list("number", flat=True))
    assert body["status"]["slug"] == "canceled" and body["cancellation_reason"] == "split"
    assert body["split_into"] == new_numbers and len(new_numbers) == 2
    assert body == client.get(f"/api/v1/packages/{package.number}/").json()
    for number in new_numbers:
        detail = client.get(f"/api/v1/packages/{number}/").json()
        assert (detail["split_from"], detail["split_into"]) == (package.number, [])
    listed = {p["number"]: p["split_from"] for p in client.get("/api/v1/packages/").json()["results"]}
    assert listed == {package.number: None, **dict.fromkeys(new_numbers, package.number)}


@pytest.mark.django_db(transaction=True)  # the engine's transaction is the outermost, as served
def test_split_writes_everything_in_one_transaction(monkeypatch):
    """Every write of the split (the original, its log row and event, the new packages, their
    items, log rows and events, the stock rows) runs inside one atomic block, before its one
    commit; after it only the outbox hands the events on (eager Celery in tests)."""
    package, b, skus = _world()
    statements, commits = [], []
    wrapper = type(connections["default"])
    real_commit = wrapper.commit

    def commit(self):
        commits.append(self.alias)
        return real_commit(self)

    def record(execute, sql, params, many, context):
        table = re.search(r'(?:INTO|UPDATE|FROM) "(\w+)"', sql)
        statements.append((len(commits), connection.in_atomic_block, sql.split(None, 1)[0].upper(),
                           table.group(1) if table else ""))
        return execute(sql, params, many, context)

    monkeypatch.setattr(wrapper, "commit", commit)
    with connection.execute_wrapper(record):
        package_run("split", package_id=package.pk, actor=OPERATOR, **_parts(package, b, skus))

    assert Package.objects.filter(split_from=package).count() == 2
    before_commit = [s for s in statements if s[0] == 0 and s[2] not in ("BEGIN", "SAVEPOINT", "RELEASE")]
    assert all(inside for _, inside, _, _ in before_commit), "a statement ran outside the transaction"
    written = {(verb, table) for _, _, verb, table in before_commit if verb in ("INSERT", "UPDATE")}
    assert {("INSERT", "packages_package"), ("UPDATE", "packages_package"),
            ("INSERT", "packages_packageitem"), ("INSERT", "packages_packagetransition"),
            ("INSERT", "oms_outboxevent"), ("UPDATE", "locations_stocklevel")} <= written
    after = {(verb, table) for n, _, verb, table in statements if n > 0 and verb in ("INSERT", "UPDATE")}
    assert {table for _, table in after} <= {"oms_outboxevent", "oms_webhookdelivery"}


@pytest.mark.django_db(transaction=True)  # the engine's transaction is the outermost, as served
@pytest.mark.parametrize("through", ["service", "api"])
def test_a_split_failing_half_way_writes_nothing(through):
    """The part at A (lower id, planned first) could start Pending; B lacks the third unit and
    the body demands Pending everywhere: nothing is written, the package at A included."""
    package, b, skus = _world(at_b=(5, 5, 0))
    assert package.location.pk < b.pk
    before = _written()

    if through == "service":
        with pytest.raises(InsufficientStock) as excinfo:
            package_run("split", package_id=package.pk, actor=OPERATOR,
                        **_parts(package, b, skus, require_pending=True))
        error = excinfo.value.as_dict()
    else:
        client, _ = api_client()
        response = client.post(f"/api/v1/packages/{package.number}/actions/split/",
                               _parts(package, b, skus, require_pending=True), format="json")
        assert response.status_code == 409
        error = response.json()
    assert error["code"] == "insufficient_stock" and error["location"] == b.code
    assert error["shortages"] == [{"sku": skus[2].code, "needed": 1, "available": 0}]
    assert _written() == before  # no packages, no stock change, no log rows, no events


def test_without_require_pending_a_part_waits_as_planning_decides_there():
    """B lacks the third unit: its package waits for a transfer from A (where the split freed
    the unit), or as Product Out of Stock when no location can send one."""
    package, b, skus = _world(at_b=(5, 5, 0))

    package_run("split", package_id=package.pk, actor=OPERATOR, **_parts(package, b, skus))

    at_b = Package.objects.get(split_from=package, location=b)
    assert at_b.status == Status.PENDING_TRANSFER
    transfer = Transfer.objects.get(package=at_b)
    assert (transfer.source_id, transfer.destination_id) == (package.location_id, b.pk)

    other, c, other_skus = _world(Status.PRODUCT_OUT_OF_STOCK, on_hand=0, at_b=(0, 0, 0))
    package_run("split", package_id=other.pk, actor=OPERATOR, **_parts(other, c, other_skus))
    assert set(Package.objects.filter(split_from=other).values_list("status", flat=True)) == {
        Status.PRODUCT_OUT_OF_STOCK}


def test_a_split_at_a_full_location_with_require_pending_is_location_full():
    package, b, skus = _world()
    b.max_open_packages = 1
    b.save(update_fields=["max_open_packages"])
    make_package(Status.PENDING, location=b)
    before = _written()
    client, _ = api_client()

    response = client.post(f"/api/v1/packages/{package.number}/actions/split/",
                           _parts(package, b, skus, require_pending=True), format="json")

    assert response.status_code == 409 and response.json()["code"] == "location_full"
    assert _written() == before


def test_the_split_package_frees_its_slot_for_the_part_at_its_own_location():
    """A holds one open package at most, the package being split: its part at A takes that
    place (Pending), the counter stays exact."""
    package, b, skus = _world(Status.PENDING)
    a = package.location
    a.max_open_packages = 1
    a.save(update_fields=["max_open_packages"])
    a.refresh_from_db()
    assert a.open_packages == 1

    package_run("split", package_id=package.pk, actor=OPERATOR,
                **_parts(package, b, skus, require_pending=True))

    at_a = Package.objects.get(split_from=package, location=a)
    assert at_a.status == Status.PENDING
    a.refresh_from_db()
    assert a.open_packages == 1 == Package.objects.filter(location=a, status=Status.PENDING).count()


def _body_with(package, b, skus, change):
    body = _parts(package, b, skus)
    change(body["parts"])
    return body


@pytest.mark.parametrize("change, message", [
    (lambda parts: parts[1]["items"].clear(), "at least one item"),
    (lambda parts: parts[1]["items"].__setitem__(0, {**parts[1]["items"][0], "quantity": 2}), "holds 1"),
    (lambda parts: parts.pop(), "0 of 1 units assigned"),
    (lambda parts: parts[0]["items"].append(dict(parts[1]["items"][0])), "2 of 1 units assigned"),
    (lambda parts: parts[1].__setitem__("location", parts[0]["location"]), "two parts"),
    (lambda parts: parts[1]["items"].__setitem__(0, {"sku": "NOPE", "quantity": 1}), "not in package"),
    (lambda parts: parts[1].__setitem__("location", "NOWHERE"), "NOWHERE"),
    (lambda parts: (parts[0]["items"].extend(parts[1]["items"]), parts.pop()), "nothing to split"),
])
def test_an_assignment_that_is_not_every_unit_exactly_once_is_400_on_parts(change, message):
    package, b, skus = _world()
    body = _body_with(package, b, skus, change)
    before = _written()

    with pytest.raises(InvalidInput) as excinfo:
        package_run("split", package_id=package.pk, actor=OPERATOR, **body)
    assert excinfo.value.extra["field"] == "parts" and message in excinfo.value.detail
    client, _ = api_client()
    response = client.post(f"/api/v1/packages/{package.number}/actions/split/", body, format="json")
    assert response.status_code == 400 and "parts" in str(response.json()["errors"])
    assert _written() == before


def test_a_location_that_cannot_package_or_is_outside_the_scope_is_refused():
    package, b, skus = _world()
    before = _written()
    client, _ = api_client(locations=[package.location])  # B is outside the token's scope
    response = client.post(f"/api/v1/packages/{package.number}/actions/split/",
                           _parts(package, b, skus), format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["parts"] == [f"Unknown stock location(s): {b.code}."]

    b.is_active = False
    b.save(update_fields=["is_active"])
    with pytest.raises(InvalidInput, match="cannot package"):
        package_run("split", package_id=package.pk, actor=OPERATOR, **_parts(package, b, skus))
    assert _written() == before


def test_bulk_split_answers_per_package():
    package, b, skus = _world()
    other, c, other_skus = _world()
    bad = _parts(other, c, other_skus)
    bad["parts"].pop()
    client, _ = api_client()

    response = client.post("/api/v1/packages/actions/split/", {"packages": [
        {"number": package.number, **_parts(package, b, skus)}, {"number": other.number, **bad}]},
        format="json")

    assert response.status_code == 200, response.json()
    results = {r["number"]: r for r in response.json()["results"]}
    assert results[package.number]["result"] == "done"
    assert results[other.number]["result"] == "failed"
    assert results[other.number]["error"]["code"] == "invalid"
    assert Package.objects.filter(split_from=package).count() == 2
    assert not Package.objects.filter(split_from=other).exists()
    other.refresh_from_db()
    assert other.status == Status.IN_PROGRESS and other.version == 1


def test_a_blocked_package_refuses_split_and_report_missing_items_in_the_api():
    package, b, skus = _world()
    package_run("block", package_id=package.pk, actor=OPERATOR, reason="fraud check")
    before = _written()
    client, _ = api_client()
    for action, body in (("split", _parts(package, b, skus)),
                         ("report_missing_items", {"items": [{"sku": skus[0].code, "quantity": 1}]})):
        response = client.post(f"/api/v1/packages/{package.number}/actions/{action}/", body, format="json")
        assert response.status_code == 409
        assert (response.json()["code"], response.json()["reason"]) == ("blocked", "fraud check")
    assert _written() == before


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_splits_racing_for_the_last_unit_at_a_location():
    """Two packages split their third item onto B, which holds one unit, each demanding
    Pending: exactly one gets it; the other writes nothing."""
    first, b, skus = _world(at_b=(0, 0, 1))
    second = make_package(Status.IN_PROGRESS, quantities=(1,), on_hand=2)
    sku = skus[2]
    PackageItem.objects.filter(package=second).update(sku=sku)
    StockLevel.objects.filter(location=second.location).update(sku=sku)
    bodies = {first.pk: _parts(first, b, skus, require_pending=True),
              second.pk: {"parts": [{"location": b.code, "items": [{"sku": sku.code, "quantity": 1}]}],
                          "require_pending": True}}

    def split(i):
        pk = [first.pk, second.pk][i % 2]
        return package_run("split", package_id=pk, actor=OPERATOR, **bodies[pk])

    results = run_concurrently(2, split)

    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], InsufficientStock)
    assert Package.objects.filter(location=b, split_from__isnull=False).count() == 1
    assert _level(b, sku) == (1, 1)
    assert Package.objects.filter(status=Status.CANCELED, cancellation_reason="split").count() == 1


# --- report_missing_items -----------------------------------------------------------------------

def test_report_missing_items_one_of_three_units():
    """Acceptance: 1 of 3 units missing. The package keeps 2 units in its state, the unit is
    written off, a new package for it is planned at B and linked."""
    package, b, skus = _world(at_b=(0, 0, 3))
    a = package.location

    result = package_run("report_missing_items", package_id=package.pk, actor=OPERATOR,
                         items=[{"sku": skus[2].code, "quantity": 1}])

    package.refresh_from_db()
    assert (package.status, package.version, package.cancellation_reason) == (Status.IN_PROGRESS, 2, "")
    assert _lines(package) == [(skus[0].code, 1), (skus[1].code, 1)]
    assert [item.sku for item in result.items.all()] == skus[:2]
    assert [_level(a, sku) for sku in skus] == [(2, 1), (2, 1), (1, 0)]  # written off by 1
    new = Package.objects.get(split_from=package)
    assert (new.location, new.status, _lines(new)) == (b, Status.PENDING, [(skus[2].code, 1)])
    assert new.order_number == package.order_number
    assert _level(b, skus[2]) == (3, 1)
    assert new.planning["location"] == b.code and new.planning["mode"] == "rules"
    log = PackageTransition.objects.get(package=package, action="report_missing_items")
    assert (log.from_status, log.to_status) == (Status.IN_PROGRESS, Status.IN_PROGRESS)
    assert log.payload["items"] == [{"sku": skus[2].code, "quantity": 1}]
    assert [entry["number"] for entry in log.payload["packages"]] == [new.number]
    event = OutboxEvent.objects.get(aggregate_type="package", aggregate_id=package.pk)
    assert event.type == "package.missing_items.reported" in PACKAGE_EVENT_TYPES
    assert event.payload["package"]["items"] == [{"sku": sku.code, "quantity": 1} for sku in skus[:2]]
    created = OutboxEvent.objects.get(aggregate_type="package", aggregate_id=new.pk)
    assert (created.type, created.payload["package"]["split_from"]) == ("package.created", package.number)


def test_report_missing_items_reduces_a_quantity_and_the_api_links_both_ways():
    package = make_package(Status.READY_TO_PACKAGING, quantities=(3,), on_hand=3)
    sku = package.items.get().sku
    client, _ = api_client()

    response = client.post(f"/api/v1/packages/{package.number}/actions/report_missing_items/",
                           {"items": [{"sku": sku.code, "quantity": 2}]}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"]["code"] == Status.READY_TO_PACKAGING
    assert body["items"] == [{"sku": sku.code, "quantity": 1, "unit_price": None, "freight_value": None}]
    assert _level(package.location, sku) == (1, 1)
    (new_number,) = body["split_into"]
    new = client.get(f"/api/v1/packages/{new_number}/").json()
    assert new["split_from"] == package.number and new["items"][0]["quantity"] == 2
    # no other location: it waits at this one, which has no free unit left
    assert (new["location"], new["status"]["code"]) == (package.location.code, Status.PRODUCT_OUT_OF_STOCK)


def test_report_missing_items_prefers_any_other_location_to_wait_at():
    package, b, skus = _world(at_b=(0, 0, 0))
    package_run("report_missing_items", package_id=package.pk, actor=OPERATOR,
                items={skus[2].code: 1})
    new = Package.objects.get(split_from=package)
    assert (new.location, new.status) == (b, Status.PRODUCT_OUT_OF_STOCK)
    assert new.stock_shortage == f"short: SKU {skus[2].code} needs 1, has 0"


def test_reporting_every_unit_is_refused_and_writes_nothing():
    package = make_package(Status.PENDING, quantities=(2, 1))
    before = _written()
    with pytest.raises(InvalidInput) as excinfo:
        package_run("report_missing_items", package_id=package.pk, actor=INTEGRATOR,
                    items={item.sku.code: item.quantity for item in package.items.all()})
    assert excinfo.value.extra["field"] == "items" and "report_missing" in excinfo.value.detail
    assert _written() == before


# --- operator screen, admin --------------------------------------------------------------------

def test_operator_splits_with_the_per_part_form(operator_at):
    package, b, skus = _world()
    client = operator_at(package.location)
    items = list(package.items.order_by("id"))
    url = reverse("packages:action", args=[package.number, "split"])
    assert url in client.get(reverse("packages:detail", args=[package.number])).content.decode()

    page = client.get(url)
    html = page.content.decode()
    assert page.status_code == 200 and 'data-testid="split-grid"' in html
    assert f'<option value="{b.code}">' in html  # suggested: B holds units of these SKUs
    grid = page.context["grid"]
    assert len(grid["locations"]) == 3 and [row["item"] for row in grid["rows"]] == items
    assert [field.name for field in grid["rest"]] == ["require_pending"]

    # the third unit left unassigned: a form error, nothing done
    unassigned = client.post(url, {"version": 1, "part1_location": package.location.code,
                                   f"part1_qty_{items[0].pk}": 1, f"part1_qty_{items[1].pk}": 1})
    assert unassigned.status_code == 400
    assert f"SKU {skus[2].code}: 0 of 1 units assigned" in unassigned.content.decode()

    done = client.post(url, {
        "version": 1, "part1_location": package.location.code, f"part1_qty_{items[0].pk}": 1,
        f"part1_qty_{items[1].pk}": 1, f"part1_qty_{items[2].pk}": 0,
        "part2_location": b.code, f"part2_qty_{items[2].pk}": 1}, follow=True)

    package.refresh_from_db()
    assert package.status == Status.CANCELED
    new = list(Package.objects.filter(split_from=package).order_by("location_id"))
    assert [p.location for p in new] == [package.location, b]
    messages = [str(m) for m in done.context["messages"]]
    assert any(new[1].number in m and "Pending at " + b.code in m for m in messages)
    detail = done.content.decode()
    assert 'data-testid="split-into"' in detail and new[0].number in detail and new[1].number in detail
    new_page = client.get(reverse("packages:detail", args=[new[0].number])).content.decode()
    assert 'data-testid="split-from"' in new_page and package.number in new_page


def test_operator_reports_missing_items_and_the_package_goes_on(operator_at):
    package, b, skus = _world(at_b=(0, 0, 2))
    client = operator_at(package.location)
    third = package.items.get(sku=skus[2])

    response = client.post(reverse("packages:action", args=[package.number, "report_missing_items"]),
                           {"version": 1, f"qty_{third.pk}": 1}, follow=True)

    package.refresh_from_db()
    assert package.status == Status.IN_PROGRESS and package.items.count() == 2
    new = Package.objects.get(split_from=package)
    messages = [str(m) for m in response.context["messages"]]
    assert any(new.number in m for m in messages)


def test_admin_offers_report_missing_items_but_not_split(client):
    client.force_login(get_user_model().objects.create_superuser("boss", "b@example.com", "pw"))
    names = {action.__name__ for action in PackageAdmin.actions}
    assert "action_report_missing_items" in names and "action_split" not in names
    package = make_package(Status.PENDING, quantities=(2,))
    sku = package.items.get().sku
    client.post(reverse("admin:packages_package_changelist"), {
        "action": "action_report_missing_items", "_selected_action": [package.pk], "apply": "1",
        "items": f"{sku.code} 1"})
    assert package.items.get().quantity == 1
    assert Package.objects.filter(split_from=package).count() == 1
