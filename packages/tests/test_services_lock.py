"""Action services take their package by id or by number (within a caller's scope), locked in
one statement (``packages.services._lock``)."""

import pytest
from django.db import connection
from django.db.models import Prefetch
from django.test.utils import CaptureQueriesContext

from locations.tests.factories import StockLocationFactory
from oms.actors import Actor
from oms.models import OutboxEvent
from packages.models import Package, PackageItem, PackageTransition, Status
from packages.services import _lock, package_report_missing, package_ship
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db

API = Actor("api", "integrator")


def test_ship_by_number_within_the_callers_packages():
    package = make_package(Status.PACKAGING_COMPLETED)

    shipped = package_ship(number=package.number, packages=Package.objects.filter(location=package.location),
                           actor=API, carrier="ACME", tracking_number="TRK1")

    assert shipped.pk == package.pk and shipped.status == Status.SHIPPED
    assert PackageTransition.objects.filter(package=package, action="ship").count() == 1


def test_a_package_outside_the_callers_packages_does_not_exist_and_is_untouched():
    package = make_package(Status.PACKAGING_COMPLETED)
    elsewhere = Package.objects.filter(location=StockLocationFactory())

    with pytest.raises(Package.DoesNotExist):
        package_ship(number=package.number, packages=elsewhere, actor=API, carrier="ACME",
                     tracking_number="TRK1")

    package.refresh_from_db()
    assert package.status == Status.PACKAGING_COMPLETED and package.version == 1
    assert not PackageTransition.objects.filter(package=package, action="ship").exists()


def test_an_unknown_number_does_not_exist():
    with pytest.raises(Package.DoesNotExist):
        package_ship(number="NOPE", actor=API, carrier="ACME", tracking_number="TRK1")


@pytest.mark.parametrize("ref", [{}, {"package_id": 1, "number": "X"}])
def test_exactly_one_of_id_and_number(ref):
    with pytest.raises(TypeError):
        _lock(**ref)


def test_lock_is_one_statement_with_brand_and_location():
    package = make_package(Status.PACKAGING_COMPLETED)
    with CaptureQueriesContext(connection) as captured:
        locked = _lock(number=package.number)
        assert (locked.brand.slug, locked.location.code) == (package.brand.slug, package.location.code)
        with pytest.raises(Package.replacement.RelatedObjectDoesNotExist):
            locked.replacement  # noqa: B018 - an open package has none: known without a query
    assert len(captured.captured_queries) == 1


def test_a_reported_package_keeps_its_replacement_readable():
    package = make_package(Status.IN_PROGRESS, quantities=(2,), on_hand=5)
    sku = package.items.get().sku.code
    reported = package_report_missing(package_id=package.pk, actor=API, items={sku: 1})
    replacement = Package.objects.get(replaces=package)
    assert reported.replacement == replacement

    assert _lock(package_id=package.pk).replacement == replacement


def test_items_prefetched_through_packages_feed_the_event_without_a_query():
    package = make_package(Status.PACKAGING_COMPLETED, quantities=(2, 1))
    with_items = Package.objects.prefetch_related(
        Prefetch("items", queryset=PackageItem.objects.select_related("sku").order_by("id")))
    with CaptureQueriesContext(connection) as captured:
        package_ship(number=package.number, packages=with_items, actor=API, carrier="ACME",
                     tracking_number="TRK1")
    assert sum('"packages_packageitem"' in q["sql"] for q in captured.captured_queries) == 1
    event = OutboxEvent.objects.get(aggregate_id=package.pk, type="package.status.transitioned")
    assert event.payload["package"]["items"] == [
        {"sku": item.sku.code, "quantity": item.quantity} for item in package.items.order_by("id")]
