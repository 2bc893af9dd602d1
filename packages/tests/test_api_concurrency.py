"""API under real concurrency (PostgreSQL): many clients at once on the same package."""

import pytest

from oms.api.testing import api_client
from oms.events.models import OutboxEvent
from packages.models import Package, PackageTransition, Status
from packages.tests.helpers import make_package
from packages.tests.test_concurrency import run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_fifty_clients_ship_one_package_exactly_one_wins():
    package = make_package(Status.PACKAGING_COMPLETED)
    first, _ = api_client()
    clients = [first] + [api_client(key=first.api_key)[0] for _ in range(49)]
    url = f"/api/v1/packages/{package.number}/actions/ship/"

    responses = run_concurrently(50, lambda i: clients[i].post(
        url, {"carrier": "ACME", "tracking_number": f"T{i}"}, format="json"))

    assert not any(isinstance(r, Exception) for r in responses), responses
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 1 and codes.count(409) == 49, codes
    for response in responses:
        if response.status_code == 409:
            data = response.json()
            assert data["code"] == "transition_not_allowed"
            assert data["current_status"]["slug"] == "shipped"
    assert PackageTransition.objects.filter(package=package, action="ship").count() == 1
    events = OutboxEvent.objects.filter(aggregate_id=package.pk, type="package.status.transitioned")
    assert events.count() == 1
    package.refresh_from_db()
    assert package.version == 2
    winner = next(r for r in responses if r.status_code == 200).json()
    assert winner["tracking_number"] == package.tracking_number


def test_if_match_under_concurrency_lets_one_writer_through():
    package = make_package(Status.PACKAGING_COMPLETED)
    client, _ = api_client()
    clients = [client] + [api_client(key=client.api_key)[0] for _ in range(9)]
    url = f"/api/v1/packages/{package.number}/actions/attach_invoice/"

    responses = run_concurrently(10, lambda i: clients[i].post(
        url, {"invoice_number": f"NF-{i}", "invoice_date": "2026-11-30"}, format="json",
        HTTP_IF_MATCH='"1"'))

    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [412] * 9, codes
    assert Package.objects.get(pk=package.pk).version == 2
