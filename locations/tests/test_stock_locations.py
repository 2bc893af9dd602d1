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
