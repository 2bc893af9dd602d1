"""A stock row's admin form saved after stock moved does not put the moved units back."""

import re

import pytest
from django.urls import reverse

from locations.models import StockLevel
from oms.actions.actors import Actor
from packages.engine import package_run
from packages.models import Status
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db


def _form(content: bytes) -> dict:
    fields = dict(re.findall(rb'name="([^"]+)" value="([^"]*)"', content))
    return {k.decode(): v.decode() for k, v in fields.items() if not k.startswith(b"csrf")}


@pytest.mark.parametrize("typed", [None, 9])
def test_a_stale_stock_form_does_not_undo_a_pick(admin_client, typed):
    package = make_package(Status.PENDING, quantities=(2,), on_hand=6)
    level = StockLevel.objects.get(location=package.location, sku=package.items.get().sku)
    url = reverse("admin:locations_stocklevel_change", args=[level.pk])
    form = _form(admin_client.get(url).content)
    assert form["on_hand"] == "6" and form["on_hand_read"] == "6"
    package_run("complete_packaging", package_id=package.pk, actor=Actor("user", "operator"))
    assert StockLevel.objects.values_list("on_hand", flat=True).get(pk=level.pk) == 4
    if typed is not None:
        form["on_hand"] = str(typed)
    admin_client.post(url, {**form, "_save": "Save"})
    assert StockLevel.objects.values_list("on_hand", "reserved").get(pk=level.pk) == (4, 0)


def test_a_fresh_stock_form_sets_the_count(admin_client):
    package = make_package(Status.PENDING, quantities=(2,), on_hand=6)
    level = StockLevel.objects.get(location=package.location, sku=package.items.get().sku)
    url = reverse("admin:locations_stocklevel_change", args=[level.pk])
    form = _form(admin_client.get(url).content)
    admin_client.post(url, {**form, "on_hand": "10", "_save": "Save"})
    assert StockLevel.objects.values_list("on_hand", flat=True).get(pk=level.pk) == 10
