"""Operator screens show times in the stock location's zone (lists spanning locations: the
current zone), the zone named; the API keeps UTC."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from locations.tests.factories import StockLocationFactory
from oms.api.testing import api_client
from packages.models import PackageTransition, Status
from packages.tests.helpers import make_package
from transfers.tests.factories import make_transfer

pytestmark = pytest.mark.django_db

SHIP_BY = dt.datetime(2018, 5, 3, 13, 15, tzinfo=dt.UTC)  # 10:15 in São Paulo, 16:15 in Istanbul
SAO_PAULO_TIME = "2018-05-03 10:15 -03 (America/Sao_Paulo)"


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("boss", is_staff=True))
    return client


@pytest.fixture
def sao_paulo():
    return StockLocationFactory(code="SP1", time_zone="America/Sao_Paulo")


def test_package_page_shows_every_time_in_the_locations_zone(staff_client, sao_paulo):
    package = make_package(
        Status.SHIPPED,
        location=sao_paulo,
        ship_by=SHIP_BY,
        status_changed_at=SHIP_BY,
        blocked_at=SHIP_BY,
        block_reason="audit",
        shipped_at=SHIP_BY,
        carrier="acme",
        tracking_number="TRK1",
    )
    PackageTransition.objects.create(
        package=package,
        action="ship",
        from_status=Status.PACKAGING_COMPLETED,
        to_status=Status.SHIPPED,
        actor="olivia",
    )
    PackageTransition.objects.filter(package=package).update(created_at=SHIP_BY)

    with timezone.override("Asia/Tokyo"):  # the operator's zone does not matter here
        html = staff_client.get(reverse("packages:detail", args=[package.number])).content.decode()

    assert html.count(SAO_PAULO_TIME) == 5  # ship-by, status since, blocked since, shipped at, history
    assert '<time datetime="2018-05-03T13:15:00Z"' in html
    assert "UTC" not in html.replace('13:15:00 UTC"', "")  # the only UTC left is the hover of each time
    assert "JST" not in html

    ticket = staff_client.get(reverse("packages:ticket", args=[package.number])).content.decode()
    assert "printed " in ticket and "-03 (America/Sao_Paulo)</time>" in ticket


def test_package_list_across_locations_uses_the_current_zone(staff_client, sao_paulo):
    make_package(location=sao_paulo, ship_by=SHIP_BY)
    make_package(location=StockLocationFactory(code="IST", time_zone="Europe/Istanbul"), ship_by=SHIP_BY)

    with timezone.override("Asia/Tokyo"):
        html = staff_client.get(reverse("packages:list")).content.decode()
    assert html.count(">2018-05-03 22:15 JST (Asia/Tokyo)</time>") == 2
    assert "America/Sao_Paulo" not in html

    html = staff_client.get(reverse("packages:list"), {"location": "SP1"}).content.decode()
    assert f">{SAO_PAULO_TIME}</time>" in html  # one location: its zone
    assert "Europe/Istanbul" not in html


def test_transfer_page_shows_times_in_the_source_locations_zone(staff_client, sao_paulo):
    destination = StockLocationFactory(code="IST", time_zone="Europe/Istanbul")
    package = make_package(Status.PENDING_TRANSFER, location=destination, quantities=())
    transfer = make_transfer(package=package, source=sao_paulo)
    type(transfer).objects.filter(pk=transfer.pk).update(status_changed_at=SHIP_BY)

    html = staff_client.get(reverse("transfers:detail", args=[transfer.number])).content.decode()

    assert (
        f'since <time datetime="2018-05-03T13:15:00Z" title="2018-05-03 13:15:00 UTC">{SAO_PAULO_TIME}</time>'
    ) in html
    assert "When (UTC)" not in html


def test_location_page_names_its_zone(staff_client, sao_paulo):
    html = staff_client.get(reverse("locations:detail", args=["SP1"])).content.decode()

    assert 'data-testid="location-time-zone"' in html and "America/Sao_Paulo" in html


def test_api_keeps_utc_and_shows_the_zone_name(sao_paulo):
    package = make_package(location=sao_paulo, ship_by=SHIP_BY)
    client, _ = api_client()

    assert client.get(f"/api/v1/packages/{package.number}/").json()["ship_by"] == "2018-05-03T13:15:00Z"
    assert client.get("/api/v1/locations/SP1/").json()["time_zone"] == "America/Sao_Paulo"
