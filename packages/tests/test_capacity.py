"""Location capacity: the open-package counter kept by the database (packages.capacity),
exact under concurrency and after any sequence of actions; full locations get no new open
packages (planning, reschedule, reassign, bulk creation); dashboards show used / maximum."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from locations.models import StockLevel, StockLocation
from locations.services import LocationFull, stock_level_set
from locations.tests.factories import SkuFactory, StockLocationFactory
from oms.actions.actors import Actor
from oms.actions.errors import OmsError
from oms.api.testing import api_client
from oms.testing import run_concurrently
from packages import capacity
from packages.actions import ACTIONS
from packages.creation import ItemInput, PackageSpec, package_create, package_create_many
from packages.engine import package_allowed_actions, package_run
from packages.models import CAPACITY_STATES, Package, PlanningRule, Status
from packages.rescheduling import package_recheck_out_of_stock
from packages.tests.factories import BrandFactory, DenialReasonFactory
from packages.tests.helpers import make_package
from transfers.engine import transfer_allowed_actions, transfer_run
from transfers.models import Transfer

OPERATOR = Actor("user", "operator")


def direct_counts() -> dict[int, int]:
    return dict(Package.objects.filter(status__in=CAPACITY_STATES).values_list("location_id")
                .annotate(n=Count("*")).order_by())


def assert_counters_exact() -> None:
    direct = direct_counts()
    counters = dict(StockLocation.objects.values_list("pk", "open_packages"))
    assert counters == {pk: direct.get(pk, 0) for pk in counters}


def open_at(location) -> int:
    return StockLocation.objects.values_list("open_packages", flat=True).get(pk=location.pk)


def limited(code: str, maximum: int | None, **fields) -> StockLocation:
    return StockLocationFactory(code=code, max_open_packages=maximum, **fields)


# --- the counter --------------------------------------------------------------------------------

@pytest.mark.django_db
def test_counter_counts_exactly_the_open_states():
    location = StockLocationFactory()
    for status in Status:
        make_package(status, location=location)
    assert open_at(location) == len(CAPACITY_STATES) == 5
    assert_counters_exact()


@pytest.mark.django_db
def test_counter_follows_moves_between_locations_and_deletes():
    here, there = StockLocationFactory(), StockLocationFactory()
    package = make_package(Status.PENDING, location=here)
    Package.objects.filter(pk=package.pk).update(location=there)
    assert (open_at(here), open_at(there)) == (0, 1)
    Package.objects.filter(pk=package.pk).update(status=Status.CANCELED)
    assert open_at(there) == 0
    other = make_package(Status.IN_PROGRESS, location=here)
    other.items.all().delete()
    Package.objects.filter(pk=other.pk).delete()
    assert_counters_exact()


@pytest.mark.django_db
def test_saving_a_location_never_writes_back_a_stale_counter():
    location = StockLocationFactory()
    make_package(Status.PENDING, location=location)
    assert location.open_packages == 0  # as read before the package existed
    location.name = "Renamed"
    location.save()
    location.save(update_fields=["name", "open_packages"])
    location.refresh_from_db()
    assert (location.name, location.open_packages) == ("Renamed", 1)


@pytest.mark.django_db
def test_sqlite_triggers_come_back_after_a_table_rebuild():
    """Django rebuilds an SQLite table for some schema changes, dropping its triggers; after
    ``migrate`` they are put back and the counters recounted."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only: PostgreSQL keeps its triggers through schema changes")
    location = StockLocationFactory()
    capacity.drop_triggers(connection)
    make_package(Status.PENDING, location=location)
    assert open_at(location) == 0  # as after a rebuild: nobody counted
    capacity.ensure_triggers(connection)
    assert open_at(location) == 1
    make_package(Status.IN_PROGRESS, location=location)
    assert open_at(location) == 2


def _inputs(name: str, package: Package, locations: list[StockLocation], reason_id: int) -> dict:
    """Plausible input for action ``name`` on ``package`` (the action may still refuse it)."""
    first = package.items.order_by("id").first()
    others = [location for location in locations if location.pk != package.location_id]
    return {
        "ship": {"carrier": "C", "tracking_number": f"T{package.pk}"},
        "attach_invoice": {"invoice_number": "INV", "invoice_date": dt.date(2026, 1, 1)},
        "update_shipment": {"carrier": "C2", "tracking_number": f"U{package.pk}"},
        "update_invoice": {"invoice_number": "INV2", "invoice_date": dt.date(2026, 1, 2)},
        "block": {"reason": "customer asked to wait"},
        "mark_delivery_failed": {"reason": "nobody home"},
        "refuse": {"denial_reason_id": reason_id},
        "reassign_location": {"location_code": others[package.pk % len(others)].code},
        "report_missing": {"items": {first.sku.code: 1}},
        "report_defective": {"items": {first.sku.code: 1}},
        "report_missing_items": {"items": {first.sku.code: 1}},
        "split": _split_input(package, others[package.pk % len(others)]),
    }.get(name, {})


def _split_input(package: Package, other: StockLocation) -> dict:
    """Each item's first unit to ``other``, the rest stay; every third package only if every
    part can start Pending."""
    stay, move = [], []
    for item in package.items.order_by("id"):
        move.append({"sku": item.sku.code, "quantity": 1})
        if item.quantity > 1:
            stay.append({"sku": item.sku.code, "quantity": item.quantity - 1})
    parts = [{"location": other.code, "items": move}]
    if stay:
        parts.append({"location": package.location.code, "items": stay})
    return {"parts": parts, "require_pending": package.pk % 3 == 0}


def _actor(name: str) -> Actor:
    who = ACTIONS[name].who
    return Actor("api", "integrator") if "A" in who else Actor("system", "system") if "S" in who else OPERATOR


# A step: create a package, raise stock, or run one of the actions a package (transfer)
# allows now, the numbers choosing which package and which action.
STEP = st.tuples(st.sampled_from(["create", "stock", "package", "package", "package", "transfer"]),
                 st.integers(0, 50), st.integers(0, 50))


class _Rollback(Exception):
    pass


@pytest.mark.django_db
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=1, max_size=40))
def test_counter_equals_a_direct_count_after_any_sequence_of_actions(steps):
    """Random creations (planned by rules, or at a given location), stock changes, and every
    package and transfer action through the engines (block, unblock, the data actions, split
    and report_missing_items included): after each step every location's counter equals a
    direct count of its open packages."""
    try:
        with transaction.atomic():
            brand = BrandFactory(slug="prop")
            locations = [limited("P-A", 2, region="SP"), limited("P-B", None, region="RJ"),
                         limited("P-C", 1, region="SP", kind="store")]
            skus = [SkuFactory() for _ in range(2)]
            for location in locations[:2]:
                for sku in skus:
                    StockLevel.objects.create(location=location, sku=sku, on_hand=2)
            rule = PlanningRule.objects.create(brand=brand, name="SP first", ranking=["same_region", "stock"])
            rule.exclude_locations.set([locations[1]])
            reason_id = DenialReasonFactory().pk
            for n in range(4):  # a few packages to act on from the start
                _run_step("create", n, n, brand=brand, locations=locations, skus=skus, reason_id=reason_id)
            for step, n, k in steps:
                try:
                    _run_step(step, n, k, brand=brand, locations=locations, skus=skus, reason_id=reason_id)
                except OmsError:
                    pass
                assert_counters_exact()
            raise _Rollback
    except _Rollback:
        pass


def _run_step(step: str, n: int, k: int, *, brand, locations, skus, reason_id) -> None:
    if step == "create":
        location = None if n % 2 else locations[k % len(locations)]
        package_create(order_number=f"PROP-{n}", brand=brand, location=location, actor=OPERATOR,
                       delivery_region=["SP", "RJ"][k % 2],
                       items=[ItemInput(sku=skus[k % 2], quantity=1 + n % 2)])
    elif step == "stock":
        location, sku = locations[n % len(locations)], skus[k % 2]
        level = StockLevel.objects.filter(location=location, sku=sku).first()
        stock_level_set(location=location, sku=sku, on_hand=(level.on_hand if level else 0) + 1 + k % 3)
    elif step == "package":
        packages = list(Package.objects.select_related("brand").order_by("pk"))
        if packages:
            package = packages[n % len(packages)]
            allowed = package_allowed_actions(package)
            if allowed:
                name = allowed[k % len(allowed)]
                package_run(name, package_id=package.pk, actor=_actor(name),
                            **_inputs(name, package, locations, reason_id))
    else:
        transfers = list(Transfer.objects.order_by("pk"))
        if transfers:
            transfer = transfers[n % len(transfers)]
            allowed = transfer_allowed_actions(transfer)
            if allowed:
                transfer_run(allowed[k % len(allowed)], transfer_id=transfer.pk, actor=OPERATOR)


# --- exact under concurrency ---------------------------------------------------------------------

def _concurrent_world(*, second_rule: bool):
    brand = BrandFactory(slug="rush")
    small, big = limited("SMALL", 5, region="SP"), limited("BIG", None, region="RJ")
    sku = SkuFactory()
    StockLevel.objects.create(location=small, sku=sku, on_hand=100)
    StockLevel.objects.create(location=big, sku=sku, on_hand=100)
    first = PlanningRule.objects.create(brand=brand, name="small first", position=1)
    first.include_locations.set([small])
    if second_rule:
        then = PlanningRule.objects.create(brand=brand, name="then big", position=2)
        then.include_locations.set([big])
    return brand, small, big, sku


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_creations_put_exactly_five_at_a_location_with_room_for_five():
    brand, small, big, sku = _concurrent_world(second_rule=True)
    results = run_concurrently(20, lambda i: package_create(
        order_number=f"RUSH-{i}", brand=brand, actor=OPERATOR, items=[ItemInput(sku=sku, quantity=1)]))
    assert not [r for r in results if isinstance(r, Exception)], results
    placed = {(p.location_id, p.status) for p in Package.objects.all()}
    assert placed == {(small.pk, Status.PENDING), (big.pk, Status.PENDING)}
    assert Package.objects.filter(location=small).count() == 5
    assert Package.objects.filter(location=big).count() == 15
    assert (open_at(small), open_at(big)) == (5, 15)
    assert StockLevel.objects.get(location=small).reserved == 5
    by_rule = {p.planning["rule"]["name"] for p in Package.objects.filter(location=big)}
    assert by_rule == {"then big"}
    assert_counters_exact()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_creations_without_a_next_rule_leave_fifteen_out_of_stock():
    brand, small, big, sku = _concurrent_world(second_rule=False)
    results = run_concurrently(20, lambda i: package_create(
        order_number=f"RUSH-{i}", brand=brand, actor=OPERATOR, items=[ItemInput(sku=sku, quantity=1)]))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Package.objects.filter(status=Status.PENDING, location=small).count() == 5
    waiting = Package.objects.filter(status=Status.PRODUCT_OUT_OF_STOCK)
    assert waiting.count() == 15
    assert {p.stock_shortage for p in waiting} == {"SMALL is full: 5 of 5 open packages"}
    assert open_at(small) == 5
    assert StockLevel.objects.get(location=small).reserved == 5
    assert_counters_exact()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reschedules_fill_a_location_exactly_to_its_capacity():
    location = limited("RES", 3)
    packages = [make_package(Status.PRODUCT_OUT_OF_STOCK, location=location, on_hand=5,
                             number=f"RES-{n}") for n in range(8)]
    results = run_concurrently(8, lambda i: package_run("reschedule", package_id=packages[i].pk,
                                                        actor=OPERATOR))
    assert sum(not isinstance(r, Exception) for r in results) == 3
    assert all(isinstance(r, LocationFull) for r in results if isinstance(r, Exception))
    assert open_at(location) == 3
    assert_counters_exact()


# --- full locations get no new open packages ------------------------------------------------------

@pytest.mark.django_db
def test_a_given_full_location_makes_the_package_wait_out_of_stock():
    location = limited("FULL", 1)
    make_package(Status.PENDING, location=location)
    sku = SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=5)
    package = package_create(order_number="O-1", brand=BrandFactory(), location=location,
                             actor=OPERATOR, items=[ItemInput(sku=sku, quantity=1)])
    assert package.status == Status.PRODUCT_OUT_OF_STOCK
    assert package.stock_shortage == "FULL is full: 1 of 1 open packages"
    assert package.planning["rules"][0]["candidates"][0]["verdict"] == "full"
    assert StockLevel.objects.get(location=location, sku=sku).reserved == 0
    assert open_at(location) == 1


@pytest.mark.django_db
def test_reschedule_waits_for_room_and_the_recheck_says_why():
    location = limited("RC", 1)
    busy = make_package(Status.PENDING, location=location)
    waiting = make_package(Status.PRODUCT_OUT_OF_STOCK, location=location, on_hand=3,
                           brand=busy.brand, next_stock_check_at=None)
    with pytest.raises(LocationFull):
        package_run("reschedule", package_id=waiting.pk, actor=OPERATOR)
    result = package_recheck_out_of_stock(brand_id=busy.brand_id)
    assert (result.rescheduled, result.still_short) == ([], 1)
    waiting.refresh_from_db()
    assert waiting.status == Status.PRODUCT_OUT_OF_STOCK
    assert waiting.stock_shortage == "RC is full: 1 of 1 open packages"
    package_run("complete_packaging", package_id=busy.pk, actor=OPERATOR)  # a slot frees
    result = package_recheck_out_of_stock(brand_id=busy.brand_id, due_only=False)
    assert result.rescheduled == [waiting.pk]
    assert open_at(location) == 1


@pytest.mark.django_db
def test_reassign_to_a_full_location_waits_out_of_stock_there():
    full = limited("RF", 1)
    make_package(Status.IN_PROGRESS, location=full)
    package = make_package(Status.TO_BE_RESCHEDULED)
    for item in package.items.all():
        StockLevel.objects.create(location=full, sku=item.sku, on_hand=9)
    package = package_run("reassign_location", package_id=package.pk, actor=OPERATOR, location_code="RF")
    assert (package.location, package.status) == (full, Status.PRODUCT_OUT_OF_STOCK)
    assert package.stock_shortage == "RF is full: 1 of 1 open packages"
    assert open_at(full) == 1


@pytest.mark.django_db
def test_bulk_creation_at_a_given_location_stops_at_its_capacity():
    location = limited("BULK", 2)
    brand, sku = BrandFactory(), SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=10)
    results = package_create_many(specs=[
        PackageSpec(order_number=f"B-{n}", brand=brand, location=location, number=f"B-{n}-1",
                    items=[ItemInput(sku=sku, quantity=1)]) for n in range(4)], actor=OPERATOR)
    assert [p.status for p in results] == [Status.PENDING, Status.PENDING,
                                           Status.PRODUCT_OUT_OF_STOCK, Status.PRODUCT_OUT_OF_STOCK]
    assert results[2].stock_shortage == "BULK is full: 2 of 2 open packages"
    assert results[0].planning["mode"] == "location_given"
    assert StockLevel.objects.get(location=location).reserved == 2
    assert open_at(location) == 2


@pytest.mark.django_db
def test_bulk_creation_without_a_location_goes_through_the_rules():
    brand, sku = BrandFactory(), SkuFactory()
    location = StockLocationFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=10)
    (created,) = package_create_many(specs=[PackageSpec(
        order_number="R-1", brand=brand, location=None, number="R-1-1",
        items=[ItemInput(sku=sku, quantity=1)])], actor=OPERATOR)
    assert (created.location, created.status) == (location, Status.PENDING)
    assert created.planning["mode"] == "rules"


# --- dashboards ---------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_dashboards_and_api_show_used_and_maximum(client):
    location = limited("DASH", 4, name="Dash")
    make_package(Status.PENDING, location=location)
    make_package(Status.PENDING_CANCELLATION, location=location)
    unlimited = StockLocationFactory(code="FREE")
    make_package(Status.IN_PROGRESS, location=unlimited)
    client.force_login(get_user_model().objects.create_user("ops", is_staff=True))
    cards = client.get(reverse("packages:movements")).content.decode()
    assert "2 / 4 open" in cards and "1 / no limit open" in cards
    page = client.get(reverse("locations:detail", args=["DASH"])).content.decode()
    assert "Open packages: <b>2</b> of <b>4</b>" in page
    api, _ = api_client()
    rows = {row["code"]: row for row in api.get("/api/v1/locations/").json()["results"]}
    assert (rows["DASH"]["open_packages"], rows["DASH"]["max_open_packages"]) == (2, 4)
    assert (rows["FREE"]["open_packages"], rows["FREE"]["max_open_packages"]) == (1, None)


@pytest.mark.django_db
def test_admin_shows_the_counter_read_only_and_saves_the_maximum(client):
    client.force_login(get_user_model().objects.create_superuser("boss", "b@example.com", "pw"))
    location = StockLocationFactory(code="ADM")
    make_package(Status.PENDING, location=location)
    response = client.post(reverse("admin:locations_stocklocation_change", args=[location.pk]), {
        "code": "ADM", "name": "Adm", "city": "", "region": "", "postcode": "", "kind": "warehouse",
        "is_active": "on", "can_package": "on", "priority": "3", "max_open_packages": "7",
        "open_packages": "0"})
    assert response.status_code == 302
    location.refresh_from_db()
    assert (location.priority, location.max_open_packages, location.open_packages) == (3, 7, 1)
    listing = client.get(reverse("admin:locations_stocklocation_changelist")).content.decode()
    assert "1 / 7" in listing
