"""API: stock locations with their package and transfer counts by state."""

import pytest

from oms.api.testing import api_client
from packages.location_movements import location_movement_counts
from packages.models import Status
from packages.tests.helpers import make_package
from transfers.models import Status as TransferStatus
from transfers.tests.factories import make_transfer

pytestmark = pytest.mark.django_db


def test_locations_with_movement_counts(django_assert_max_num_queries):
    package = make_package(Status.PENDING_CANCELLATION, quantities=(),
                           status_before_cancellation=Status.PENDING_TRANSFER)
    transfer = make_transfer("in_transit", package=package)
    make_package(Status.PENDING, location=package.location)
    client, _ = api_client()
    with django_assert_max_num_queries(6):
        rows = client.get("/api/v1/locations/").json()["results"]
    by_code = {row["code"]: row for row in rows}
    home = by_code[package.location.code]["movements"]
    assert home["packages"]["pending"] == 1 and home["packages"]["pending_cancellation"] == 1
    assert home["transfers"]["incoming"]["in_transit"] == 1
    assert by_code[transfer.source.code]["movements"]["transfers"]["outgoing"]["in_transit"] == 1
    detail = client.get(f"/api/v1/locations/{transfer.source.code}/").json()
    assert detail["movements"]["transfers"]["outgoing"]["in_transit"] == 1
    scoped, _ = api_client(locations=[transfer.source])
    assert [r["code"] for r in scoped.get("/api/v1/locations/").json()["results"]] == [transfer.source.code]
    assert scoped.get(f"/api/v1/locations/{package.location.code}/").status_code == 404


def test_movement_counts_list_every_state_with_zeros(django_assert_num_queries):
    location = make_package(Status.PENDING).location
    with django_assert_num_queries(0):
        assert location_movement_counts(location_ids=[]) == {}
    with django_assert_num_queries(3):
        counts = location_movement_counts(location_ids=[location.pk])[location.pk]
    assert len(counts["packages"]) == 17 and counts["packages"]["pending"] == 1
    assert sum(counts["packages"].values()) == 1 and counts["blocked_packages"] == 0
    assert counts["transfers"]["incoming"] == counts["transfers"]["outgoing"] == {
        slug: 0 for slug in TransferStatus.values}
