"""Automatic re-check under real concurrency (PostgreSQL)."""

import datetime as dt

import pytest
from django.utils import timezone

from locations.models import StockLevel
from locations.tests.factories import SkuFactory, StockLocationFactory
from oms.actions.actors import Actor
from oms.testing import run_concurrently
from packages.engine import package_run
from packages.models import Package, PackageItem, PackageTransition, Status
from packages.rescheduling import package_recheck_out_of_stock
from packages.tests.factories import BrandFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _bulk_waiting(n, *, brand, location, sku):
    now = timezone.now()
    packages = Package.objects.bulk_create(
        Package(number=f"OOS-{i:05d}", order_number=f"O-{i}", brand=brand, location=location,
                status=Status.PRODUCT_OUT_OF_STOCK,
                # package 0 waited longest
                status_changed_at=now - dt.timedelta(minutes=n - i),
                next_stock_check_at=now - dt.timedelta(seconds=1))
        for i in range(n)
    )
    PackageItem.objects.bulk_create(PackageItem(package=p, sku=sku, quantity=1) for p in packages)
    return packages


def test_two_runs_at_once_reschedule_the_500_that_waited_longest_once_each():
    brand, location, sku = BrandFactory(), StockLocationFactory(), SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=500)
    packages = _bulk_waiting(1000, brand=brand, location=location, sku=sku)
    results = run_concurrently(2, lambda i: package_recheck_out_of_stock(brand_id=brand.pk, batch_size=200))
    assert not any(isinstance(r, Exception) for r in results), results
    rescheduled = [pk for r in results for pk in r.rescheduled]
    assert len(rescheduled) == 500
    assert len(set(rescheduled)) == 500
    assert set(rescheduled) == {p.pk for p in packages[:500]}
    assert PackageTransition.objects.filter(action="reschedule").count() == 500
    assert Package.objects.filter(status=Status.IN_PROGRESS).count() == 500
    level = StockLevel.objects.get()
    assert (level.on_hand, level.reserved) == (500, 500)
    short = Package.objects.filter(status=Status.PRODUCT_OUT_OF_STOCK)
    assert short.count() == 500
    assert not short.filter(next_stock_check_at__lte=timezone.now()).exists()


def test_cancel_racing_automatic_reschedule_leaves_a_legal_chain():
    brand, location, sku = BrandFactory(), StockLocationFactory(), SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=1)
    for _round in range(5):
        (package,) = _bulk_waiting(1, brand=brand, location=location, sku=sku)
        Package.objects.filter(pk=package.pk).update(number=f"RACE-{_round}")

        def act(i, package_id=package.pk):
            if i == 0:
                return package_recheck_out_of_stock(brand_id=brand.pk, due_only=False)
            return package_run("cancel", package_id=package_id, actor=Actor("user", "op"))

        run_concurrently(2, act)
        package.refresh_from_db()
        chain = list(PackageTransition.objects.filter(package=package).order_by("id")
                     .values_list("from_status", "to_status", "action"))
        assert chain in (
            [(920, 900, "cancel")],
            [(920, 200, "reschedule")],  # cancel then refused: not allowed from In Progress
        ), chain
        level = StockLevel.objects.get()
        expected_reserved = 1 if package.status == Status.IN_PROGRESS else 0
        assert level.reserved == expected_reserved
        if package.status == Status.IN_PROGRESS:  # free the unit for the next round
            package_run("request_cancellation", package_id=package.pk, actor=Actor("user", "op"))
            package_run("confirm_cancellation", package_id=package.pk, actor=Actor("user", "op"))
