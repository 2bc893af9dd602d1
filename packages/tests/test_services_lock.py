"""The package engine takes its package by id or by number (within a caller's scope), locked
in one statement with its brand and location (``packages.engine.PACKAGES.lock``)."""

import datetime as dt
import threading
import time

import pytest
from django.db import connection
from django.db.models import Prefetch
from django.test.utils import CaptureQueriesContext

from locations.tests.factories import StockLocationFactory
from oms.actions import engine
from oms.actions.actors import Actor
from oms.actions.engine import Entry
from oms.api.testing import api_client
from oms.events.models import OutboxEvent
from packages.engine import package_act, package_run
from packages.models import Package, PackageItem, PackageTransition, Status
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db

API = Actor("api", "integrator")


def test_ship_by_number_within_the_callers_packages():
    package = make_package(Status.PACKAGING_COMPLETED)

    shipped = package_run("ship", number=package.number,
                          packages=Package.objects.filter(location=package.location),
                          actor=API, carrier="ACME", tracking_number="TRK1")

    assert shipped.pk == package.pk and shipped.status == Status.SHIPPED
    assert PackageTransition.objects.filter(package=package, action="ship").count() == 1


def test_a_package_outside_the_callers_packages_does_not_exist_and_is_untouched():
    package = make_package(Status.PACKAGING_COMPLETED)
    elsewhere = Package.objects.filter(location=StockLocationFactory())

    with pytest.raises(Package.DoesNotExist):
        package_run("ship", number=package.number, packages=elsewhere, actor=API, carrier="ACME",
                    tracking_number="TRK1")

    package.refresh_from_db()
    assert package.status == Status.PACKAGING_COMPLETED and package.version == 1
    assert not PackageTransition.objects.filter(package=package, action="ship").exists()


def test_an_unknown_number_does_not_exist():
    with pytest.raises(Package.DoesNotExist):
        package_run("ship", number="NOPE", actor=API, carrier="ACME", tracking_number="TRK1")


@pytest.mark.parametrize("ref", [{}, {"package_id": 1, "number": "X"}])
def test_exactly_one_of_id_and_number(ref):
    with pytest.raises(TypeError):
        package_run("ship", actor=API, carrier="ACME", tracking_number="TRK1", **ref)


def test_lock_is_one_statement_with_brand_and_location():
    package = make_package(Status.PACKAGING_COMPLETED)
    with CaptureQueriesContext(connection) as captured:
        locked = package_run("ship", number=package.number, actor=API, carrier="ACME", tracking_number="TRK1")
    reads = [q["sql"] for q in captured.captured_queries
             if q["sql"].startswith("SELECT") and 'FROM "packages_package"' in q["sql"]]
    assert len(reads) == 1, reads
    assert '"packages_brand"' in reads[0] and '"locations_stocklocation"' in reads[0]
    if connection.vendor == "postgresql":
        assert reads[0].endswith('FOR UPDATE OF "packages_package"')
    with CaptureQueriesContext(connection) as after:
        assert (locked.brand.slug, locked.location.code) == (package.brand.slug, package.location.code)
        with pytest.raises(Package.replacement.RelatedObjectDoesNotExist):
            locked.replacement  # noqa: B018 - an open package has none: known without a query
    assert after.captured_queries == []


def test_a_reported_package_keeps_its_replacement_readable():
    package = make_package(Status.IN_PROGRESS, quantities=(2,), on_hand=5)
    sku = package.items.get().sku.code
    reported = package_run("report_missing", package_id=package.pk, actor=API, items={sku: 1})
    replacement = Package.objects.get(replaces=package)
    assert reported.replacement == replacement

    (refused,) = package_act("start_preparing", [Entry(package.pk)], actor=API)  # locked, then refused
    assert refused.error is not None and refused.obj.replacement == replacement


def test_items_prefetched_through_packages_feed_the_event_without_a_query():
    package = make_package(Status.PACKAGING_COMPLETED, quantities=(2, 1))
    with_items = Package.objects.prefetch_related(
        Prefetch("items", queryset=PackageItem.objects.select_related("sku").order_by("id")))
    with CaptureQueriesContext(connection) as captured:
        package_run("ship", number=package.number, packages=with_items, actor=API, carrier="ACME",
                    tracking_number="TRK1")
    assert sum('"packages_packageitem"' in q["sql"] for q in captured.captured_queries) == 1
    event = OutboxEvent.objects.get(aggregate_id=package.pk, type="package.status.transitioned")
    assert event.payload["package"]["items"] == [
        {"sku": item.sku.code, "quantity": item.quantity} for item in package.items.order_by("id")]


def test_an_api_action_locks_the_package_by_number_inside_the_tokens_scope():
    package = make_package(Status.PACKAGING_COMPLETED)
    client, _ = api_client(locations=[package.location])

    with CaptureQueriesContext(connection) as captured:
        response = client.post(f"/api/v1/packages/{package.number}/actions/ship/",
                               {"carrier": "ACME", "tracking_number": "TRK-1"}, format="json")

    assert response.status_code == 200
    reads = [q["sql"] for q in captured.captured_queries
             if q["sql"].startswith("SELECT") and 'FROM "packages_package"' in q["sql"]]
    lock = next(sql for sql in reads if '"packages_package"."number" IN ' in sql)
    # the scope (the token's stock locations, remembered with the token) is part of the
    # locking statement
    assert f'"packages_package"."location_id" IN ({package.location_id})' in lock
    if connection.vendor == "postgresql":
        assert lock.endswith('FOR UPDATE OF "packages_package"')


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_change_committed_while_an_action_waits_for_the_lock_is_not_lost(monkeypatch):
    """Another integrator ships the package while the invoice is being attached: the ship
    waits for the package's lock and runs on the package with its invoice."""
    package = make_package(Status.PACKAGING_COMPLETED)
    scope = Package.objects.filter(location=package.location)
    real_publish, shipped = engine.events_publish_many, []

    def ship():
        try:
            shipped.append(package_run("ship", number=package.number, packages=scope, actor=API,
                                       carrier="ACME", tracking_number="TRK-1"))
        except Exception as exc:  # asserted below
            shipped.append(exc)
        finally:
            connection.close()

    def publish_then_let_the_ship_wait(events):
        if not hasattr(publish_then_let_the_ship_wait, "other"):  # the invoice's transaction
            other = publish_then_let_the_ship_wait.other = threading.Thread(target=ship)
            other.start()
            _wait_until_a_backend_waits_for_a_lock()
        return real_publish(events)

    monkeypatch.setattr("oms.actions.engine.events_publish_many", publish_then_let_the_ship_wait)
    package_run("attach_invoice", number=package.number, packages=scope, actor=API,
                invoice_number="INV-9", invoice_date=dt.date(2026, 11, 30))
    publish_then_let_the_ship_wait.other.join(timeout=30)

    [ship_result] = shipped
    assert isinstance(ship_result, Package), ship_result
    package.refresh_from_db()
    assert (package.status, package.version, package.invoice_number, package.carrier) == (
        Status.SHIPPED, 3, "INV-9", "ACME")
    assert (ship_result.version, ship_result.invoice_number) == (3, "INV-9")
    actions = list(package.transitions.order_by("id").values_list("action", flat=True))
    assert actions == ["attach_invoice", "ship"]
    events = OutboxEvent.objects.filter(aggregate_id=package.pk, payload__transition__action="ship")
    assert events.count() == 1
    assert events.get().payload["package"]["invoice_number"] == "INV-9"


def _wait_until_a_backend_waits_for_a_lock(timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # else read once per transaction
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                           "AND datname = current_database()")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the other action never waited for the package's lock")
