"""Every way of running a package action goes through the one engine
(``oms.actions.engine.act``): the operator screen, the admin action, the single and the
bulk API, the package list's bulk form, and the automatic re-check."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from locations.models import OperatorAssignment, StockLevel
from oms.actions import engine
from oms.api.testing import api_client
from packages.models import Package, Status
from packages.rescheduling import package_recheck_out_of_stock
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db

SHIP = {"carrier": "ACME", "tracking_number": "TRK1"}


@pytest.fixture
def runs(monkeypatch):
    """``[(action, actor kind, package id), …]`` of every row the engine acted on."""
    seen = []
    run = engine._run

    def spy(machine, action, obj, entry, actor, *args):
        step = run(machine, action, obj, entry, actor, *args)
        seen.append((action.name, actor.kind, obj.pk))
        return step

    monkeypatch.setattr(engine, "_run", spy)
    return seen


def _shipped(package) -> bool:
    package.refresh_from_db()
    return package.status == Status.SHIPPED


def test_operator_screen(client, runs):
    package = make_package(Status.PACKAGING_COMPLETED)
    user = get_user_model().objects.create_user("olivia", password="pw")
    OperatorAssignment.objects.create(user=user, location=package.location)
    client.force_login(user)
    client.post(reverse("packages:action", args=[package.number, "ship"]), {"version": 1, **SHIP})
    assert _shipped(package) and runs == [("ship", "user", package.pk)]


def test_admin_action(client, runs):
    package = make_package(Status.PACKAGING_COMPLETED)
    client.force_login(get_user_model().objects.create_superuser("boss", "b@example.com", "pw"))
    client.post(reverse("admin:packages_package_changelist"), {
        "action": "action_ship", "_selected_action": [package.pk], "apply": "1", **SHIP})
    assert _shipped(package) and runs == [("ship", "user", package.pk)]


def test_single_api_call(runs):
    package = make_package(Status.PACKAGING_COMPLETED)
    client, _ = api_client()
    response = client.post(f"/api/v1/packages/{package.number}/actions/ship/", SHIP, format="json")
    assert response.status_code == 200
    assert _shipped(package) and runs == [("ship", "api", package.pk)]


def test_bulk_api_call(runs):
    first, second = make_package(Status.PACKAGING_COMPLETED), make_package(Status.PACKAGING_COMPLETED)
    client, _ = api_client()
    response = client.post("/api/v1/packages/actions/ship/", {"packages": [
        {"number": first.number, **SHIP}, {"number": second.number, "carrier": "ACME",
                                            "tracking_number": "TRK2"}]}, format="json")
    assert response.status_code == 200
    assert _shipped(first) and _shipped(second)
    assert runs == [("ship", "api", first.pk), ("ship", "api", second.pk)]


def test_automatic_recheck(runs):
    package = make_package(Status.PRODUCT_OUT_OF_STOCK, quantities=(2,), on_hand=0)
    StockLevel.objects.filter(location=package.location).update(on_hand=5)
    result = package_recheck_out_of_stock(brand_id=package.brand_id, due_only=False)
    package.refresh_from_db()
    assert result.rescheduled == [package.pk] and package.status == Status.IN_PROGRESS
    assert runs == [("reschedule", "system", package.pk)]


def test_nothing_else_saves_a_package_state(monkeypatch):
    """The engine writes packages with ``bulk_update`` only: a ``save()`` of a package row
    outside creation would be a second path."""
    package = make_package(Status.PACKAGING_COMPLETED)
    monkeypatch.setattr(Package, "save", lambda *a, **k: pytest.fail("Package.save() called"))
    client, _ = api_client()
    assert client.post(f"/api/v1/packages/{package.number}/actions/ship/", SHIP,
                       format="json").status_code == 200
    assert _shipped(package)


def test_package_list_bulk_form(client, runs):
    first, second = make_package(Status.PENDING), make_package(Status.PENDING)
    user = get_user_model().objects.create_user("olivia", password="pw")
    OperatorAssignment.objects.create(user=user, location=first.location)
    OperatorAssignment.objects.create(user=user, location=second.location)
    client.force_login(user)
    response = client.post(reverse("packages:bulk_action"), {
        "action": "start_preparing", "selected": [f"1:{first.number}", f"1:{second.number}"]})
    assert response.status_code == 302
    assert runs == [("start_preparing", "user", first.pk), ("start_preparing", "user", second.pk)]
