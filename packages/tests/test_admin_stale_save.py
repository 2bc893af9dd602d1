"""Admin change forms never write a package's or a transfer's row: a form opened before an
action and submitted after it leaves the action's state, version and stock alone."""

import re
import threading

import pytest
from django.contrib.admin import ModelAdmin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from oms.api.testing import api_client
from oms.events.models import OutboxEvent
from packages.models import Package, PackageTransition, Status
from packages.tests.helpers import make_package, stock_snapshot
from transfers.models import Status as TransferStatus
from transfers.models import Transfer, TransferTransition
from transfers.tests.factories import make_transfer

pytestmark = pytest.mark.django_db


def _in_another_connection(fn):
    """Run ``fn`` in a thread of its own (its own connection, its own committed transaction)."""
    result = {}

    def run():
        try:
            result["value"] = fn()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return result["value"]


@pytest.fixture
def action_between_read_and_write(monkeypatch):
    """Make ``ModelAdmin.get_object`` run ``action`` (committed elsewhere) once it has read the
    row: the window in which an operator's Save and an API action cross."""
    pending = []

    def get_object(self, request, object_id, from_field=None):
        obj = original(self, request, object_id, from_field)
        if request.method == "POST" and pending:
            _in_another_connection(pending.pop())
        return obj

    original = ModelAdmin.get_object
    monkeypatch.setattr(ModelAdmin, "get_object", get_object)
    return pending


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    return client


def _form_data(html: bytes) -> dict:
    """The fields a browser would submit from the change form (inputs, selects, textareas)."""
    text = html.decode()
    data = {}
    for tag in re.findall(r"<input[^>]*>", text):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or re.search(r'type="(submit|checkbox)"', tag):
            continue
        value = re.search(r'value="([^"]*)"', tag)
        data[name.group(1)] = value.group(1) if value else ""
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', text, re.S):
        data[name] = body
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', text, re.S):
        selected = re.search(r'<option value="([^"]*)"[^>]*selected', body)
        data[name] = selected.group(1) if selected else ""
    data["_save"] = "Save"
    return data


def test_package_form_submitted_after_an_api_cancel_keeps_the_cancel(admin_client):
    package = make_package(Status.PENDING, quantities=(2,), on_hand=5)
    url = reverse("admin:packages_package_change", args=[package.pk])
    opened = admin_client.get(url)
    assert opened.status_code == 200
    form = _form_data(opened.content)

    client, _ = api_client()
    response = client.post(f"/api/v1/packages/{package.number}/actions/cancel/", {}, format="json")
    assert response.status_code == 200, response.content
    after_cancel = (Package.objects.values("status", "version").get(pk=package.pk), stock_snapshot(),
                    PackageTransition.objects.count(), OutboxEvent.objects.count())
    assert after_cancel[0]["status"] == Status.CANCELED

    assert b'name="_save"' not in opened.content
    with CaptureQueriesContext(connection) as queries:
        submitted = admin_client.post(url, form)

    assert submitted.status_code == 403
    assert not [q for q in queries if q["sql"].startswith("UPDATE")]
    assert (Package.objects.values("status", "version").get(pk=package.pk), stock_snapshot(),
            PackageTransition.objects.count(), OutboxEvent.objects.count()) == after_cancel


def test_transfer_form_submitted_after_a_dispatch_keeps_the_dispatch(admin_client):
    transfer = make_transfer(TransferStatus.WAITING, quantities=(1,), on_hand=3)
    url = reverse("admin:transfers_transfer_change", args=[transfer.pk])
    opened = admin_client.get(url)
    assert opened.status_code == 200
    form = _form_data(opened.content)

    client, _ = api_client()
    response = client.post(f"/api/v1/transfers/{transfer.number}/actions/dispatch/", {}, format="json")
    assert response.status_code == 200, response.content
    after = (Transfer.objects.values("status", "version").get(pk=transfer.pk), stock_snapshot(),
             TransferTransition.objects.count(), OutboxEvent.objects.count())
    assert after[0]["status"] == TransferStatus.IN_TRANSIT

    assert b'name="_save"' not in opened.content
    with CaptureQueriesContext(connection) as queries:
        submitted = admin_client.post(url, form)

    assert submitted.status_code == 403
    assert not [q for q in queries if q["sql"].startswith("UPDATE")]
    assert (Transfer.objects.values("status", "version").get(pk=transfer.pk), stock_snapshot(),
            TransferTransition.objects.count(), OutboxEvent.objects.count()) == after


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_package_save_crossing_an_api_cancel_keeps_the_cancel(admin_client,
                                                               action_between_read_and_write):
    package = make_package(Status.PENDING, quantities=(2,), on_hand=5)
    url = reverse("admin:packages_package_change", args=[package.pk])
    form = _form_data(admin_client.get(url).content)
    client, _ = api_client()
    action_between_read_and_write.append(lambda: client.post(
        f"/api/v1/packages/{package.number}/actions/cancel/", {}, format="json").status_code)

    admin_client.post(url, form)

    assert not action_between_read_and_write  # the cancel ran inside the window
    row = Package.objects.values("status", "version").get(pk=package.pk)
    assert row == {"status": Status.CANCELED, "version": package.version + 1}
    assert stock_snapshot()[0][2] == 0  # the reservation the cancel released stays released
    client, _ = api_client()
    again = client.post(f"/api/v1/packages/{package.number}/actions/cancel/", {}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "transition_not_allowed"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_transfer_save_crossing_an_api_dispatch_keeps_the_dispatch(admin_client,
                                                                  action_between_read_and_write):
    transfer = make_transfer(TransferStatus.WAITING, quantities=(1,), on_hand=3)
    url = reverse("admin:transfers_transfer_change", args=[transfer.pk])
    form = _form_data(admin_client.get(url).content)
    client, _ = api_client()
    action_between_read_and_write.append(lambda: client.post(
        f"/api/v1/transfers/{transfer.number}/actions/dispatch/", {}, format="json").status_code)

    admin_client.post(url, form)

    assert not action_between_read_and_write
    row = Transfer.objects.values("status", "version").get(pk=transfer.pk)
    assert row == {"status": TransferStatus.IN_TRANSIT, "version": transfer.version + 1}
    client, _ = api_client()
    received = client.post(f"/api/v1/transfers/{transfer.number}/actions/receive/", {}, format="json")
    assert received.status_code == 200, received.content


def test_whole_row_save_of_a_stored_stateful_row_is_refused():
    from locations.models import StockLevel
    from oms.actions.row_guard import WholeRowSaveRefused

    transfer = make_transfer(TransferStatus.WAITING)
    package = make_package(Status.PENDING)
    level = StockLevel.objects.filter(location=package.location).first()
    for row in (package, transfer, level, Package.objects.get(pk=package.pk)):
        with pytest.raises(WholeRowSaveRefused):
            row.save()
    stale = Package.objects.get(pk=package.pk)
    copy = Package(pk=package.pk, number=package.number, order_number="X", brand=package.brand,
                   location=package.location)
    with pytest.raises(WholeRowSaveRefused):
        copy.save()
    stale.tracking_number = "TRK"
    stale.save(update_fields=["tracking_number"])
    assert Package.objects.get(pk=package.pk).tracking_number == "TRK"
    new = Package(number="NEW-1", order_number="X", brand=package.brand, location=package.location)
    new.save()
    assert Package.objects.filter(number="NEW-1").exists()
