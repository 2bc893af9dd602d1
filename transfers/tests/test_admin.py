"""Admin actions run the declared actions through the engine and report refusals per transfer."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from packages.models import Status as PackageStatus
from packages.tests.helpers import make_package
from transfers.actions import ACTIONS
from transfers.models import Status, TransferTransition
from transfers.tests.factories import make_transfer

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    return client


def test_dispatch_action_runs_the_service_and_reports_refusals(admin_client):
    ready = make_transfer(Status.READY_TO_SHIPMENT)
    done = make_transfer(Status.TRANSFERRED)
    response = admin_client.post(
        reverse("admin:transfers_transfer_changelist"),
        {"action": "action_dispatch", "_selected_action": [ready.pk, done.pk]},
        follow=True,
    )
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert "Dispatch: 1 done." in messages
    assert any(m.startswith(f"{done.number}: 'dispatch' is not allowed") for m in messages)
    ready.refresh_from_db()
    assert ready.status == Status.IN_TRANSIT
    log = TransferTransition.objects.get(action="dispatch")
    assert (log.actor, log.actor_user.username) == ("user:boss", "boss")


def test_change_page_shows_items_and_log_read_only(admin_client):
    transfer = make_transfer(Status.CANCELLATION_WAITING)
    response = admin_client.get(reverse("admin:transfers_transfer_change", args=[transfer.pk]))
    assert response.status_code == 200
    assert b"Cancellation Waiting" in response.content
    assert b'name="status"' not in response.content


def test_receive_action_runs_the_package_hooks(admin_client):
    package = make_package(PackageStatus.PENDING_TRANSFER, quantities=())
    first, second = (make_transfer(Status.IN_TRANSIT, package=package, quantities=(1,)) for _ in range(2))
    response = admin_client.post(
        reverse("admin:transfers_transfer_changelist"),
        {"action": "action_receive", "_selected_action": [first.pk, second.pk]}, follow=True)
    assert "Receive: 2 done." in [str(m) for m in response.context["messages"]]
    package.refresh_from_db()
    assert package.status == PackageStatus.READY_TO_PACKAGING


def test_every_operator_action_is_an_admin_action(admin_client):
    response = admin_client.get(reverse("admin:transfers_transfer_changelist"))
    offered = {name for name, _ in response.context["action_form"].fields["action"].choices}
    assert {f"action_{name}" for name in ACTIONS} <= offered
