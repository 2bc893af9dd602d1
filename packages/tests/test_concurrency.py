"""Row locks under real concurrency (PostgreSQL): threads hit the same rows at once."""

import pytest

from locations.models import StockLevel
from locations.services import stock_reserve
from locations.tests.factories import SkuFactory, StockLocationFactory
from oms.actions.actors import Actor
from oms.actions.errors import ActionNotAllowed, InsufficientStock
from oms.events.models import OutboxEvent
from oms.testing import run_concurrently
from packages.engine import package_run
from packages.models import PackageTransition, Status
from packages.tests.helpers import make_package

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

OPERATOR = Actor("user", "operator")




def test_twenty_concurrent_ships_one_wins():
    package = make_package(Status.PACKAGING_COMPLETED)
    results = run_concurrently(20, lambda i: package_run("ship",
        package_id=package.pk, actor=OPERATOR, carrier="C", tracking_number=f"T{i}"))
    wins = [r for r in results if not isinstance(r, Exception)]
    losses = [r for r in results if isinstance(r, Exception)]
    assert len(wins) == 1
    assert all(isinstance(e, ActionNotAllowed) for e in losses), losses
    assert PackageTransition.objects.filter(package=package, action="ship").count() == 1
    events = OutboxEvent.objects.filter(aggregate_id=package.pk, type="package.status.transitioned")
    assert events.count() == 1
    package.refresh_from_db()
    assert package.tracking_number == wins[0].tracking_number
    assert package.version == 2


def test_twenty_threads_reserving_last_ten_units():
    location, sku = StockLocationFactory(), SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=10)
    results = run_concurrently(20, lambda i: stock_reserve(location_id=location.pk, lines={sku.pk: 1}))
    successes = [r for r in results if not isinstance(r, Exception)]
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(successes) == 10
    assert all(isinstance(e, InsufficientStock) for e in failures), failures
    level = StockLevel.objects.get()
    assert (level.on_hand, level.reserved) == (10, 10)


def test_concurrent_reschedules_share_scarce_stock_exactly():
    """Ten out-of-stock packages, stock for four: four rescheduled, never over-reserved."""
    first = make_package(Status.PRODUCT_OUT_OF_STOCK, quantities=(1,), on_hand=4)
    sku = first.items.get().sku
    packages = [first]
    for n in range(9):
        p = make_package(Status.PRODUCT_OUT_OF_STOCK, quantities=(), location=first.location,
                         number=f"R-{n}")
        p.items.create(sku=sku, quantity=1)
        packages.append(p)
    results = run_concurrently(10, lambda i: package_run("reschedule",
        package_id=packages[i].pk, actor=OPERATOR))
    assert sum(not isinstance(r, Exception) for r in results) == 4
    assert all(isinstance(r, InsufficientStock) for r in results if isinstance(r, Exception))
    level = StockLevel.objects.get(sku=sku)
    assert (level.on_hand, level.reserved) == (4, 4)


def test_missing_report_racing_complete_packaging_one_wins_stock_consistent():
    package = make_package(Status.IN_PROGRESS, quantities=(1, 1), on_hand=2)
    code = package.items.first().sku.code

    def act(i):
        if i % 2:
            return package_run("complete_packaging", package_id=package.pk, actor=OPERATOR)
        return package_run("report_missing", package_id=package.pk, actor=OPERATOR, items={code: 1})

    results = run_concurrently(6, act)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    package.refresh_from_db()
    levels = {lvl.sku.code: lvl for lvl in StockLevel.objects.select_related("sku")}
    if package.status == Status.PACKAGING_COMPLETED:
        assert all((lvl.on_hand, lvl.reserved) == (1, 0) for lvl in levels.values())
    else:
        assert package.status == Status.CANCELED
        assert levels[code].on_hand == 1
        assert package.replacement.status == Status.PENDING
    assert PackageTransition.objects.filter(package=package).count() == 1


def test_crossing_transfer_plans_do_not_fail():
    """Packages at A and at B each need 2 units of a SKU of which A and B hold 1 each:
    each reserves its local unit, then wants the other's (lock orders cross). One must end
    Pending Transfer with both units, the other Product Out of Stock; never an error."""
    from packages.creation import ItemInput, package_create
    from packages.tests.factories import BrandFactory

    brand = BrandFactory()
    a, b = StockLocationFactory(region="SP"), StockLocationFactory(region="SP")
    for round_ in range(4):  # each deadlock costs PostgreSQL's deadlock_timeout (1 s)
        sku = SkuFactory()
        StockLevel.objects.create(location=a, sku=sku, on_hand=1)
        StockLevel.objects.create(location=b, sku=sku, on_hand=1)

        def create(i, sku=sku, round_=round_):
            return package_create(order_number=f"X{round_}-{i}", brand=brand, location=(a, b)[i],
                                  items=[ItemInput(sku=sku, quantity=2)], actor=OPERATOR)

        results = run_concurrently(2, create)
        assert not any(isinstance(r, Exception) for r in results), results
        assert sorted(r.status for r in results) == [Status.PENDING_TRANSFER, Status.PRODUCT_OUT_OF_STOCK]
        assert [(lvl.on_hand, lvl.reserved) for lvl in StockLevel.objects.filter(sku=sku)] == [(1, 1)] * 2
