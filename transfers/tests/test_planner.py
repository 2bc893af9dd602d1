"""transfer_plan: which locations send what, in 2 queries."""

import pytest

from locations.models import StockLevel
from locations.tests.factories import SkuFactory, StockLocationFactory
from oms.actions.errors import InvalidInput
from transfers.services import transfer_plan

pytestmark = pytest.mark.django_db


def _stock(location, sku, on_hand, reserved=0):
    StockLevel.objects.create(location=location, sku=sku, on_hand=on_hand, reserved=reserved)


@pytest.fixture
def destination():
    return StockLocationFactory(region="SP")


def test_prefers_a_source_in_the_destination_region(destination, django_assert_num_queries):
    sku = SkuFactory()
    far, near = StockLocationFactory(region="RJ"), StockLocationFactory(region="SP")
    _stock(far, sku, 10)
    _stock(near, sku, 3)
    with django_assert_num_queries(2):
        plan = transfer_plan(destination_id=destination.pk, lines={sku.pk: 3})
    assert plan == {near.pk: {sku.pk: 3}}


def test_region_comes_before_coverage(destination):
    """The documented order: a same-region source holding part of the line is used first."""
    sku = SkuFactory()
    far, near = StockLocationFactory(region="RJ"), StockLocationFactory(region="SP")
    _stock(far, sku, 10)
    _stock(near, sku, 1)
    assert transfer_plan(destination_id=destination.pk, lines={sku.pk: 3}) == {
        near.pk: {sku.pk: 1}, far.pk: {sku.pk: 2}}


def test_prefers_the_source_covering_most_lines(destination):
    one, two = SkuFactory(), SkuFactory()
    only_one, only_two, both = (StockLocationFactory(region="SP") for _ in range(3))
    _stock(only_one, one, 50)
    _stock(only_two, two, 50)
    _stock(both, one, 2)
    _stock(both, two, 2)
    assert transfer_plan(destination_id=destination.pk, lines={one.pk: 2, two.pk: 2}) == {
        both.pk: {one.pk: 2, two.pk: 2}}


def test_then_prefers_the_most_stock(destination):
    sku = SkuFactory()
    small, big = StockLocationFactory(region="SP"), StockLocationFactory(region="SP")
    _stock(small, sku, 3)
    _stock(big, sku, 9)
    assert transfer_plan(destination_id=destination.pk, lines={sku.pk: 2}) == {big.pk: {sku.pk: 2}}


def test_splits_a_line_when_no_source_has_enough(destination):
    one, two = SkuFactory(), SkuFactory()
    first, second = StockLocationFactory(region="SP"), StockLocationFactory(region="SP")
    _stock(first, one, 3)
    _stock(first, two, 1)
    _stock(second, one, 3)
    plan = transfer_plan(destination_id=destination.pk, lines={one.pk: 5, two.pk: 1})
    # first covers line two fully, so it is chosen first and sends all it has of line one
    assert plan == {first.pk: {one.pk: 3, two.pk: 1}, second.pk: {one.pk: 2}}


def test_counts_available_not_on_hand(destination):
    sku = SkuFactory()
    full, busy, free = (StockLocationFactory(region=r) for r in ("SP", "RJ", "RJ"))
    _stock(full, sku, 10, reserved=10)
    _stock(busy, sku, 10, reserved=9)
    _stock(free, sku, 2)
    assert transfer_plan(destination_id=destination.pk, lines={sku.pk: 2}) == {free.pk: {sku.pk: 2}}


def test_none_when_all_sources_together_are_short(destination):
    sku, other = SkuFactory(), SkuFactory()
    _stock(StockLocationFactory(), sku, 2)
    _stock(StockLocationFactory(), sku, 2, reserved=1)
    _stock(StockLocationFactory(), other, 5)
    assert transfer_plan(destination_id=destination.pk, lines={sku.pk: 4, other.pk: 1}) is None
    assert transfer_plan(destination_id=destination.pk, lines={SkuFactory().pk: 1}) is None


def test_never_plans_from_the_destination_an_inactive_or_an_excluded_location(destination):
    sku = SkuFactory()
    inactive, excluded, usable = (StockLocationFactory(region="SP") for _ in range(3))
    inactive.is_active = False
    inactive.save()
    for location in (destination, inactive, excluded):
        _stock(location, sku, 100)
    assert transfer_plan(destination_id=destination.pk, lines={sku.pk: 1},
                         exclude_location_ids=[excluded.pk]) is None
    _stock(usable, sku, 1)
    assert transfer_plan(destination_id=destination.pk, lines={sku.pk: 1},
                         exclude_location_ids=[excluded.pk]) == {usable.pk: {sku.pk: 1}}


def test_blank_region_prefers_nothing():
    destination = StockLocationFactory(region="")
    sku = SkuFactory()
    blank, other = StockLocationFactory(region=""), StockLocationFactory(region="RJ")
    _stock(blank, sku, 1)
    _stock(other, sku, 5)
    assert transfer_plan(destination_id=destination.pk, lines={sku.pk: 1}) == {other.pk: {sku.pk: 1}}


def test_empty_lines_and_bad_quantities(destination):
    assert transfer_plan(destination_id=destination.pk, lines={}) == {}
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InvalidInput):
            transfer_plan(destination_id=destination.pk, lines={SkuFactory().pk: bad})
