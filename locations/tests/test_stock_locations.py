"""Stock locations publish their events; the admin saves through the service."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from locations.models import StockLocation
from locations.services import stock_location_save
from oms.events.models import OutboxEvent

pytestmark = pytest.mark.django_db


def test_create_and_update_publish_events():
    location = stock_location_save(location=StockLocation(code="WH1", name="Main"))
    stock_location_save(location=location, is_active=False)
    events = list(OutboxEvent.objects.order_by("id").values_list("type", "aggregate_id"))
    assert events == [("stock_location.created", location.pk), ("stock_location.updated", location.pk)]
    assert OutboxEvent.objects.last().payload["stock_location"]["is_active"] is False


def test_admin_edit_publishes_updated(client):
    client.force_login(get_user_model().objects.create_superuser("boss", "b@example.com", "pw"))
    location = StockLocation.objects.create(code="S1", name="Store")
    client.post(reverse("admin:locations_stocklocation_change", args=[location.pk]), {
        "code": "S1", "name": "Store renamed", "city": "", "region": "", "postcode": "",
        "kind": "store", "is_active": "on", "can_package": "on"})
    location.refresh_from_db()
    assert location.name == "Store renamed"
    assert OutboxEvent.objects.get().type == "stock_location.updated"


def _admin_post(client, location, **fields):
    client.force_login(get_user_model().objects.create_superuser("boss", "b@example.com", "pw"))
    return client.post(reverse("admin:locations_stocklocation_change", args=[location.pk]), {
        "code": location.code, "name": location.name, "city": "", "region": "", "postcode": "",
        "kind": "store", "is_active": "on", "can_package": "on", **fields})


def test_admin_edit_of_the_time_zone_is_saved_and_published(client):
    location = StockLocation.objects.create(code="S1", name="Store")

    response = _admin_post(client, location, time_zone="America/Sao_Paulo")

    assert response.status_code == 302
    location.refresh_from_db()
    assert location.time_zone == "America/Sao_Paulo"
    assert OutboxEvent.objects.get().payload["stock_location"]["time_zone"] == "America/Sao_Paulo"


def test_admin_refuses_a_time_zone_that_is_no_iana_name(client):
    location = StockLocation.objects.create(code="S1", name="Store", time_zone="Europe/Istanbul")

    response = _admin_post(client, location, time_zone="Sao Paulo")

    assert response.status_code == 200
    assert "time_zone" in response.context["adminform"].form.errors
    assert "Sao Paulo is not an IANA time zone name" in response.content.decode()
    location.refresh_from_db()
    assert location.time_zone == "Europe/Istanbul"
    assert not OutboxEvent.objects.exists()


def test_a_new_location_takes_the_default_zone_of_the_settings(client, settings):
    settings.OMS_DEFAULT_LOCATION_TIME_ZONE = "Europe/Istanbul"
    assert StockLocation.objects.create(code="S2", name="Store").time_zone == "Europe/Istanbul"
    location = StockLocation.objects.create(code="S1", name="Store", time_zone="Asia/Tokyo")

    _admin_post(client, location, time_zone="")  # blank in the form: the default

    location.refresh_from_db()
    assert location.time_zone == "Europe/Istanbul"
