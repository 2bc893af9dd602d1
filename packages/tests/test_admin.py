"""Admin: status read-only, admin actions call the services, bad input never a 500."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from locations.models import StockLevel
from packages.models import Package, PackageTransition, Status
from packages.tests.factories import DenialReasonFactory
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:packages_package_changelist"


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    return client


def _messages(response):
    return [str(m) for m in response.context["messages"]]


def test_admin_action_runs_the_service_and_reports_refusals(admin_client):
    pending, shipped = make_package(Status.PENDING), make_package(Status.SHIPPED)
    response = admin_client.post(reverse(CHANGELIST), {
        "action": "action_start_preparing", "_selected_action": [pending.pk, shipped.pk]},
        follow=True)
    assert response.status_code == 200
    messages = _messages(response)
    assert "Start Preparing: 1 done." in messages
    assert any(m.startswith(f"{shipped.number}: 'start_preparing' is not allowed") for m in messages)
    pending.refresh_from_db()
    assert pending.status == Status.IN_PROGRESS
    log = PackageTransition.objects.get(package=pending)
    assert (log.actor, log.actor_user.username) == ("user:boss", "boss")


def test_ship_asks_for_carrier_and_tracking_then_ships(admin_client):
    package = make_package(Status.PACKAGING_COMPLETED)
    first = admin_client.post(reverse(CHANGELIST), {"action": "action_ship",
                                                     "_selected_action": [package.pk]})
    assert first.status_code == 200
    assert b'name="tracking_number"' in first.content
    package.refresh_from_db()
    assert package.status == Status.PACKAGING_COMPLETED
    admin_client.post(reverse(CHANGELIST), {
        "action": "action_ship", "_selected_action": [package.pk], "apply": "1",
        "carrier": "Correios", "tracking_number": "BR1"}, follow=True)
    package.refresh_from_db()
    assert (package.status, package.tracking_number) == (Status.SHIPPED, "BR1")


@pytest.mark.parametrize("text", ["", "garbage", "SKU 0", "NOPE 1", "{sku} 5"])
def test_report_missing_with_bad_items_changes_nothing(admin_client, text):
    package = make_package(Status.PENDING, quantities=(1,))
    code = package.items.get().sku.code
    response = admin_client.post(reverse(CHANGELIST), {
        "action": "action_report_missing", "_selected_action": [package.pk], "apply": "1",
        "items": text.format(sku=code)}, follow=True)
    assert response.status_code == 200
    package.refresh_from_db()
    assert package.status == Status.PENDING
    assert not Package.objects.filter(replaces=package).exists()


def test_refuse_with_a_denial_reason(admin_client):
    package = make_package(Status.IN_PROGRESS)
    reason = DenialReasonFactory(title="Closed today")
    admin_client.post(reverse(CHANGELIST), {
        "action": "action_refuse", "_selected_action": [package.pk], "apply": "1",
        "denial_reason_id": reason.pk}, follow=True)
    package.refresh_from_db()
    assert package.status == Status.TO_BE_RESCHEDULED
    assert package.denial_reason == reason


def test_change_page_shows_status_read_only(admin_client):
    package = make_package(Status.PENDING_INVOICE)
    response = admin_client.get(reverse("admin:packages_package_change", args=[package.pk]))
    assert response.status_code == 200
    assert b"Pending Invoice" in response.content
    assert b'name="status"' not in response.content


def test_stock_below_reserved_is_refused_in_admin(admin_client):
    package = make_package(Status.PENDING, quantities=(3,), on_hand=5)
    level = StockLevel.objects.get()
    url = reverse("admin:locations_stocklevel_change", args=[level.pk])
    response = admin_client.post(url, {"on_hand": 2})
    assert response.status_code == 200  # form shown again with the error
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (5, 3)
    admin_client.post(url, {"on_hand": 7, "on_hand_read": 5})  # the count the form showed
    level.refresh_from_db()
    assert level.on_hand == 7
    assert package.pk


@pytest.mark.parametrize("value", ['[["nested"]]', "[null]", "[1]", '"refuse"', '["fly"]'])
def test_brand_with_bad_disabled_actions_is_a_form_error(admin_client, value):
    from packages.tests.factories import BrandFactory

    brand = BrandFactory(slug="olist")
    response = admin_client.post(reverse("admin:packages_brand_change", args=[brand.pk]), {
        "slug": "olist", "name": "Olist", "disabled_actions": value, "recheck_interval_minutes": 30})
    assert response.status_code == 200
    assert b"errornote" in response.content or b"errorlist" in response.content
    brand.refresh_from_db()
    assert brand.disabled_actions == []


@pytest.mark.parametrize("text", ["{sku} \u00b2", "{sku} \u0661", "{sku} 0", "{sku} 1.0"])
def test_report_missing_odd_digits_are_form_errors(admin_client, text):
    package = make_package(Status.PENDING, quantities=(1,))
    response = admin_client.post(reverse(CHANGELIST), {
        "action": "action_report_missing", "_selected_action": [package.pk], "apply": "1",
        "items": text.format(sku=package.items.get().sku.code)})
    assert response.status_code == 200
    assert b"errorlist" in response.content
    package.refresh_from_db()
    assert package.status == Status.PENDING


def test_stock_level_added_in_admin_links_to_its_row_and_cannot_be_deleted(admin_client):
    from locations.tests.factories import SkuFactory, StockLocationFactory

    location, sku = StockLocationFactory(), SkuFactory()
    response = admin_client.post(reverse("admin:locations_stocklevel_add"), {
        "location": location.pk, "sku": sku.pk, "on_hand": 4, "_continue": "1"})
    level = StockLevel.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:locations_stocklevel_change", args=[level.pk])
    assert admin_client.get(reverse("admin:locations_stocklevel_delete", args=[level.pk])).status_code == 403


def test_original_shows_its_replacement(admin_client, operator):
    from packages.engine import package_run

    package = make_package(Status.PENDING, quantities=(1,), on_hand=2)
    package_run("report_missing", package_id=package.pk, actor=operator,
                items={package.items.get().sku.code: 1})
    replacement = Package.objects.get(replaces=package)
    response = admin_client.get(reverse("admin:packages_package_change", args=[package.pk]))
    assert replacement.number.encode() in response.content
