"""Automatic rescheduling of Product Out of Stock packages."""

import datetime as dt

import pytest
from django.utils import timezone

from locations.models import StockLevel
from locations.services import stock_level_set
from locations.tests.factories import SkuFactory, StockLocationFactory
from oms.config.celery import app as celery_app
from packages.models import Package, PackageItem, PackageTransition, Status
from packages.rescheduling import package_recheck_out_of_stock
from packages.tests.factories import BrandFactory
from packages.tests.helpers import make_package
from packages.tests.spec import ALL_STATES

pytestmark = pytest.mark.django_db


def _waiting(location, sku, *, brand, quantity=1, waited_minutes=0, number=None, due=True):
    now = timezone.now()
    package = Package.objects.create(
        number=number or f"W-{Package.objects.count() + 1}", order_number="O", brand=brand,
        location=location, status=Status.PRODUCT_OUT_OF_STOCK,
        status_changed_at=now - dt.timedelta(minutes=waited_minutes),
        next_stock_check_at=now - dt.timedelta(seconds=1) if due else now + dt.timedelta(hours=1),
    )
    PackageItem.objects.create(package=package, sku=sku, quantity=quantity)
    return package


def test_recheck_reschedules_when_stock_is_back_as_system():
    brand, location, sku = BrandFactory(), StockLocationFactory(), SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=2)
    package = _waiting(location, sku, brand=brand, quantity=2)
    result = package_recheck_out_of_stock(brand_id=brand.pk)
    assert result.rescheduled == [package.pk]
    package.refresh_from_db()
    assert package.status == Status.IN_PROGRESS
    log = PackageTransition.objects.get(package=package)
    assert (log.from_status, log.to_status, log.action) == (920, 200, "reschedule")
    assert log.actor == "system:recheck"
    assert StockLevel.objects.get().reserved == 2


def test_recheck_records_shortage_and_next_check():
    brand = BrandFactory(recheck_interval_minutes=45)
    location, sku = StockLocationFactory(), SkuFactory(code="SKU-X")
    StockLevel.objects.create(location=location, sku=sku, on_hand=1)
    package = _waiting(location, sku, brand=brand, quantity=2)
    before = timezone.now()
    result = package_recheck_out_of_stock(brand_id=brand.pk)
    assert (result.rescheduled, result.still_short) == ([], 1)
    package.refresh_from_db()
    assert package.status == Status.PRODUCT_OUT_OF_STOCK
    assert package.stock_shortage == "short: SKU SKU-X needs 2, has 1"
    assert package.stock_checked_at >= before
    assert package.next_stock_check_at - package.stock_checked_at == dt.timedelta(minutes=45)
    assert not PackageTransition.objects.filter(package=package).exists()


def test_recheck_skips_packages_not_due_and_other_brands():
    brand, other = BrandFactory(), BrandFactory()
    location, sku = StockLocationFactory(), SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=5)
    not_due = _waiting(location, sku, brand=brand, due=False)
    other_brand = _waiting(location, sku, brand=other)
    assert package_recheck_out_of_stock(brand_id=brand.pk).rescheduled == []
    for package in (not_due, other_brand):
        package.refresh_from_db()
        assert package.status == Status.PRODUCT_OUT_OF_STOCK


def test_recheck_serves_the_longest_waiting_first():
    brand, location, sku = BrandFactory(), StockLocationFactory(), SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=2)
    young = _waiting(location, sku, brand=brand, waited_minutes=5)
    oldest = _waiting(location, sku, brand=brand, waited_minutes=50)
    older = _waiting(location, sku, brand=brand, waited_minutes=20)
    result = package_recheck_out_of_stock(brand_id=brand.pk, batch_size=2)
    assert result.rescheduled == [oldest.pk, older.pk]
    young.refresh_from_db()
    assert young.status == Status.PRODUCT_OUT_OF_STOCK
    assert young.stock_shortage.endswith("needs 1, has 0")


@pytest.mark.parametrize("state", sorted(ALL_STATES - {920}))
def test_recheck_never_touches_other_states(state):
    package = make_package(state, on_hand=10)
    Package.objects.filter(pk=package.pk).update(next_stock_check_at=timezone.now() - dt.timedelta(days=1))
    before = list(Package.objects.filter(pk=package.pk).values())
    log_count = PackageTransition.objects.count()
    result = package_recheck_out_of_stock(brand_id=package.brand_id, due_only=False)
    assert result.rescheduled == [] and result.still_short == 0
    assert list(Package.objects.filter(pk=package.pk).values()) == before
    assert PackageTransition.objects.count() == log_count


def test_second_run_changes_nothing():
    brand, location, sku = BrandFactory(), StockLocationFactory(), SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=1)
    _waiting(location, sku, brand=brand)
    short = _waiting(location, sku, brand=brand)
    package_recheck_out_of_stock(brand_id=brand.pk)
    short.refresh_from_db()
    snapshot = list(Package.objects.order_by("pk").values())
    second = package_recheck_out_of_stock(brand_id=brand.pk)
    assert (second.rescheduled, second.still_short) == ([], 0)
    assert list(Package.objects.order_by("pk").values()) == snapshot


def test_stock_raised_queues_a_recheck_that_reschedules(django_capture_on_commit_callbacks):
    brand, location, sku = BrandFactory(), StockLocationFactory(), SkuFactory()
    level = StockLevel.objects.create(location=location, sku=sku, on_hand=0)
    package = _waiting(location, sku, brand=brand, due=False)  # not due: only the event helps
    with django_capture_on_commit_callbacks(execute=True):
        stock_level_set(location=location, sku=sku, on_hand=1)
    package.refresh_from_db()
    assert package.status == Status.IN_PROGRESS
    level.refresh_from_db()
    assert level.reserved == 1


def test_entering_out_of_stock_sets_the_first_check(operator):
    from packages.creation import ItemInput, package_create

    brand = BrandFactory(recheck_interval_minutes=10)
    package = package_create(order_number="O", brand=brand, location=StockLocationFactory(),
                             items=[ItemInput(sku=SkuFactory(code="NONE"), quantity=1)], actor=operator)
    assert package.status == Status.PRODUCT_OUT_OF_STOCK
    package.refresh_from_db()
    assert package.stock_shortage == "short: SKU NONE needs 1, has 0"
    assert package.next_stock_check_at - package.stock_checked_at == dt.timedelta(minutes=10)


def test_every_beat_entry_names_a_registered_task():
    celery_app.loader.import_default_modules()
    schedule = celery_app.conf.beat_schedule
    assert schedule
    for name, entry in schedule.items():
        assert entry["task"] in celery_app.tasks, f"beat entry {name} names unknown task {entry['task']}"


def test_shorter_brand_interval_applies_to_waiting_packages_at_once():
    from packages.brands import brand_update

    brand = BrandFactory(recheck_interval_minutes=60)
    location, sku = StockLocationFactory(), SkuFactory()
    package = _waiting(location, sku, brand=brand, due=False)
    checked = timezone.now() - dt.timedelta(minutes=10)
    Package.objects.filter(pk=package.pk).update(stock_checked_at=checked,
                                                 next_stock_check_at=checked + dt.timedelta(minutes=60))
    brand_update(brand=brand, recheck_interval_minutes=5)
    package.refresh_from_db()
    assert package.next_stock_check_at == checked + dt.timedelta(minutes=5)
    StockLevel.objects.create(location=location, sku=sku, on_hand=1)
    assert package_recheck_out_of_stock(brand_id=brand.pk).rescheduled == [package.pk]


def test_brand_rejects_unknown_disabled_action():
    from django.core.exceptions import ValidationError

    from packages.brands import brand_update

    brand = BrandFactory()
    with pytest.raises(ValidationError):
        brand_update(brand=brand, disabled_actions=["fly_to_moon"])
    with pytest.raises(ValidationError):
        brand_update(brand=brand, disabled_actions=["transfers_arrived"])


def test_brand_with_reschedule_switched_off_is_left_alone():
    brand = BrandFactory(disabled_actions=["reschedule"])
    location, sku = StockLocationFactory(), SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=5)
    package = _waiting(location, sku, brand=brand)
    result = package_recheck_out_of_stock(brand_id=brand.pk)
    assert (result.rescheduled, result.still_short, result.skipped) == ([], 0, 0)
    package.refresh_from_db()
    assert package.status == Status.PRODUCT_OUT_OF_STOCK
