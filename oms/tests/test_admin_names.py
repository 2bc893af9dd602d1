"""Admin: every model is listed under a correctly spelled plural."""

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


def test_admin_index_lists_webhook_deliveries(client):
    boss = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(boss)

    page = client.get("/admin/").content.decode()

    assert "Webhook deliveries" in page
    assert "deliverys" not in page.lower()


def test_no_model_has_an_automatic_ys_plural():
    wrong = [m.__name__ for m in apps.get_models()
             if str(m._meta.verbose_name_plural).endswith("ys")
             and str(m._meta.verbose_name).endswith("y")
             and str(m._meta.verbose_name)[-2:-1] not in "aeiou"]
    assert wrong == []


def test_admin_names_rows_by_sku_code_user_and_location_code_not_ids(client):
    from locations.models import OperatorAssignment, StockLevel
    from locations.tests.factories import StockLocationFactory
    from packages.models import PackageTransition, Status
    from packages.tests.helpers import make_package

    boss = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(boss)
    here = StockLocationFactory(code="HERE")
    package = make_package(Status.PENDING, location=here, quantities=(2,))
    item = package.items.select_related("sku").get()
    assignment = OperatorAssignment.objects.create(user=boss, location=here)
    level = StockLevel.objects.get(location=here, sku=item.sku)

    assert str(item) == f"2 × {item.sku.code}"
    assert str(assignment) == "boss at HERE"
    assert str(level).startswith(f"{item.sku.code} at HERE: ")
    step = PackageTransition(package=package, action="start_preparing", from_status=Status.PENDING,
                             to_status=Status.IN_PROGRESS)
    assert str(step) == f"{package.number}: start_preparing (Pending → In Progress)"
    page = client.get(f"/admin/packages/package/{package.pk}/change/").content.decode()
    assert f"2 × {item.sku.code}" in page
    assignments = client.get("/admin/locations/operatorassignment/").content.decode()
    assert "boss at HERE" in assignments
