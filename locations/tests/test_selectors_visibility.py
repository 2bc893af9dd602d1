"""The one visibility rule of the operator web UI (``locations.selectors``)."""

import pytest
from django.contrib.auth.models import AnonymousUser

from locations.models import OperatorAssignment, StockLocation
from locations.selectors import (
    location_is_visible,
    locations_restrict,
    stock_location_get,
    stock_location_list,
    visible_location_ids,
)
from locations.tests.factories import StockLocationFactory
from packages.models import Package, Status
from packages.tests.helpers import make_package
from transfers.models import Transfer
from transfers.tests.factories import make_transfer

pytestmark = pytest.mark.django_db


@pytest.fixture
def places():
    return StockLocationFactory(code="A"), StockLocationFactory(code="B"), StockLocationFactory(code="C")


def test_operator_sees_assigned_locations_only(django_user_model, places):
    a, b, c = places
    user = django_user_model.objects.create_user("op")
    OperatorAssignment.objects.create(user=user, location=a)
    OperatorAssignment.objects.create(user=user, location=b)

    assert list(stock_location_list(user=user).values_list("code", flat=True)) == ["A", "B"]
    assert visible_location_ids(user=user) == {a.pk, b.pk}
    assert location_is_visible(user=user, location_id=a.pk)
    assert not location_is_visible(user=user, location_id=c.pk)
    assert stock_location_get(user=user, code="B") == b
    with pytest.raises(StockLocation.DoesNotExist):
        stock_location_get(user=user, code="C")


def test_staff_see_all_and_others_nothing(django_user_model, places):
    staff = django_user_model.objects.create_user("boss", is_staff=True)
    inactive = django_user_model.objects.create_user("gone", is_staff=True, is_active=False)
    nobody = django_user_model.objects.create_user("nobody")

    assert stock_location_list(user=staff).count() == 3
    assert visible_location_ids(user=staff) is None
    for user in (inactive, nobody, AnonymousUser()):
        assert stock_location_list(user=user).count() == 0
        assert not location_is_visible(user=user, location_id=places[0].pk)


def test_restrict_packages_and_transfers_by_either_end(django_user_model, places):
    a, b, c = places
    user = django_user_model.objects.create_user("op")
    OperatorAssignment.objects.create(user=user, location=a)
    at_a = make_package(Status.PENDING, location=a)
    make_package(Status.PENDING, location=b)
    incoming = make_transfer(package=make_package(Status.PENDING_TRANSFER, location=a, quantities=()),
                             source=b)
    outgoing = make_transfer(package=make_package(Status.PENDING_TRANSFER, location=c, quantities=()),
                             source=a)
    make_transfer(package=make_package(Status.PENDING_TRANSFER, location=c, quantities=()), source=b)

    packages = locations_restrict(Package.objects.all(), user=user)
    transfers = locations_restrict(Transfer.objects.all(), user=user, fields=("source", "destination"))

    assert set(packages) == {at_a, incoming.package}
    assert set(transfers) == {incoming, outgoing}


def test_restrict_adds_no_query(django_user_model, places, django_assert_num_queries):
    user = django_user_model.objects.create_user("op")
    OperatorAssignment.objects.create(user=user, location=places[0])
    make_package(Status.PENDING, location=places[0])
    with django_assert_num_queries(1):
        assert len(list(locations_restrict(Package.objects.all(), user=user))) == 1
