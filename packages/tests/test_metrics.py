"""/metrics, package series: open and blocked packages per state, re-check lag, re-check runs."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from locations.models import StockLevel
from locations.tests.factories import SkuFactory, StockLocationFactory
from oms.actions.actors import Actor
from oms.api.testing import api_client
from oms.observability.models import JobRun
from oms.testing import metrics_scrape
from packages.engine import package_run
from packages.models import Package, PackageItem, Status
from packages.rescheduling import package_recheck_out_of_stock
from packages.tasks import package_recheck_due_task
from packages.tests.factories import BrandFactory
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db
OPERATOR = Actor("user", "operator")


@pytest.fixture
def scrape(settings):
    settings.METRICS_TOKEN = "test-metrics-token"
    return lambda: metrics_scrape(Client())


def _out_of_stock(brand, *, due_seconds_ago: float | None, on_hand: int = 0) -> Package:
    """A Product Out of Stock package of ``brand`` short of one unit; its next check was due
    ``due_seconds_ago`` (negative: in the future; None: never set)."""
    location, sku = StockLocationFactory(), SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=on_hand)
    now = timezone.now()
    package = Package.objects.create(
        number=f"OOS-{Package.objects.count() + 1}", order_number="O", brand=brand, location=location,
        status=Status.PRODUCT_OUT_OF_STOCK, status_changed_at=now - dt.timedelta(hours=1),
        next_stock_check_at=None if due_seconds_ago is None else now - dt.timedelta(seconds=due_seconds_ago))
    PackageItem.objects.create(package=package, sku=sku, quantity=1)
    return package


def test_open_packages_per_state_follow_actions(scrape):
    brand = BrandFactory(slug="acme")
    packages = [make_package(Status.PENDING, brand=brand) for _ in range(3)]
    make_package(Status.DELIVERED, brand=brand)
    samples = scrape()
    assert samples[("oms_packages_open", (("state", "pending"),))] == 3
    assert samples[("oms_packages_open", (("state", "in_progress"),))] == 0
    assert ("oms_packages_open", (("state", "delivered"),)) not in samples  # final states are not open

    package_run("start_preparing", package_id=packages[0].pk, actor=OPERATOR)
    package_run("complete_packaging", package_id=packages[1].pk, actor=OPERATOR)
    samples = scrape()
    assert samples[("oms_packages_open", (("state", "pending"),))] == 1
    assert samples[("oms_packages_open", (("state", "in_progress"),))] == 1
    assert samples[("oms_packages_open", (("state", "packaging_completed"),))] == 1


def test_blocked_packages_per_state_follow_block_and_unblock(scrape):
    brand = BrandFactory(slug="acme")
    pending = [make_package(Status.PENDING, brand=brand) for _ in range(2)]
    completed = make_package(Status.PACKAGING_COMPLETED, brand=brand)
    samples = scrape()
    assert samples[("oms_packages_blocked", (("state", "pending"),))] == 0
    assert ("oms_packages_blocked", (("state", "shipped"),)) not in samples  # cannot be blocked

    package_run("block", package_id=pending[0].pk, actor=OPERATOR, reason="address check")
    package_run("block", package_id=completed.pk, actor=OPERATOR, reason="fraud check")
    samples = scrape()
    assert samples[("oms_packages_blocked", (("state", "pending"),))] == 1
    assert samples[("oms_packages_blocked", (("state", "packaging_completed"),))] == 1
    assert samples[("oms_packages_open", (("state", "pending"),))] == 2  # still open

    package_run("unblock", package_id=pending[0].pk, actor=OPERATOR)
    assert scrape()[("oms_packages_blocked", (("state", "pending"),))] == 0


def test_recheck_lag_leaves_blocked_packages_out(scrape):
    """The re-check passes blocked packages over, so a blocked one long due is no lag."""
    brand = BrandFactory(slug="held")
    package = _out_of_stock(brand, due_seconds_ago=900)
    package_run("block", package_id=package.pk, actor=OPERATOR, reason="customer asked to wait")
    assert scrape()[("oms_package_recheck_lag_seconds", (("brand", "held"),))] == 0
    package_run("unblock", package_id=package.pk, actor=OPERATOR)  # due again at once
    assert scrape()[("oms_package_recheck_lag_seconds", (("brand", "held"),))] < 60


def test_api_created_package_is_counted(scrape):
    """A package created through the API shows up as pending."""
    location, sku = StockLocationFactory(), SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=5)
    brand = BrandFactory(slug="api-brand")
    client, _ = api_client(locations=[location])
    response = client.post("/api/v1/packages/", {
        "order_number": "API-1", "brand": brand.slug, "location": location.code,
        "delivery_type": "ship", "items": [{"sku": sku.code, "quantity": 2}]}, format="json")
    assert response.status_code == 201, response.content
    assert scrape()[("oms_packages_open", (("state", "pending"),))] == 1


def test_recheck_lag_is_the_oldest_due_check_per_brand(scrape):
    late, on_time, off = (BrandFactory(slug="late"), BrandFactory(slug="on-time"),
                          BrandFactory(slug="off", disabled_actions=["reschedule"]))
    _out_of_stock(late, due_seconds_ago=600)
    _out_of_stock(late, due_seconds_ago=120)
    _out_of_stock(late, due_seconds_ago=-300)  # not due yet
    _out_of_stock(on_time, due_seconds_ago=-60)
    _out_of_stock(off, due_seconds_ago=900)
    samples = scrape()
    assert 600 <= samples[("oms_package_recheck_lag_seconds", (("brand", "late"),))] < 660
    assert samples[("oms_package_recheck_lag_seconds", (("brand", "on-time"),))] == 0
    assert ("oms_package_recheck_lag_seconds", (("brand", "off"),)) not in samples  # never re-checked


def test_recheck_lag_counts_a_package_never_checked_from_when_it_ran_out(scrape):
    brand = BrandFactory(slug="b")
    _out_of_stock(brand, due_seconds_ago=None)  # out of stock for an hour, no check yet
    assert 3600 <= scrape()[("oms_package_recheck_lag_seconds", (("brand", "b"),))] < 3660


def test_recheck_runs_and_reschedules_are_counted(scrape):
    brand = BrandFactory(slug="acme")
    back = _out_of_stock(brand, due_seconds_ago=600, on_hand=1)  # stock is back: rescheduled
    _out_of_stock(brand, due_seconds_ago=600)  # still short: checked again later
    before = scrape()
    assert 600 <= before[("oms_package_recheck_lag_seconds", (("brand", "acme"),))] < 660
    assert ("oms_package_recheck_runs_total", (("brand", "acme"), ("trigger", "due"))) not in before

    assert package_recheck_due_task() == {"acme": 1}
    back.refresh_from_db()
    assert back.status == Status.IN_PROGRESS
    samples = scrape()
    labels = (("brand", "acme"), ("trigger", "due"))
    assert samples[("oms_package_recheck_runs_total", labels)] == 1
    assert samples[("oms_package_recheck_rescheduled_total", labels)] == 1
    run = JobRun.objects.get(job="package_recheck_due", key="acme")
    assert samples[("oms_package_recheck_last_run_timestamp_seconds", labels)] == pytest.approx(
        run.last_run_at.timestamp())
    assert samples[("oms_package_recheck_lag_seconds", (("brand", "acme"),))] == 0  # next check later

    package_recheck_due_task()  # nothing due: a run, no reschedule
    samples = scrape()
    assert samples[("oms_package_recheck_runs_total", labels)] == 2
    assert samples[("oms_package_recheck_rescheduled_total", labels)] == 1


def test_recheck_after_a_stock_rise_counts_as_trigger_stock(scrape):
    brand = BrandFactory(slug="acme")
    package = _out_of_stock(brand, due_seconds_ago=-600, on_hand=1)
    package_recheck_out_of_stock(brand_id=brand.pk, due_only=False, location_id=package.location_id)
    samples = scrape()
    assert samples[("oms_package_recheck_rescheduled_total", (("brand", "acme"), ("trigger", "stock")))] == 1
    assert ("oms_package_recheck_runs_total", (("brand", "acme"), ("trigger", "due"))) not in samples


def test_metrics_scrape_is_a_fixed_number_of_queries(scrape, django_assert_num_queries):
    for slug in ("a", "b", "c"):
        brand = BrandFactory(slug=slug)
        _out_of_stock(brand, due_seconds_ago=60)
        package_recheck_due_task()
    with django_assert_num_queries(10):  # whatever the number of brands, packages, subscriptions
        scrape()
