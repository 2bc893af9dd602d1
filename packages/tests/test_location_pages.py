"""The location page: counts in all 17 package states and the 6 transfer states per direction."""

import pytest
from django.urls import reverse

from locations.models import OperatorAssignment
from locations.tests.factories import StockLocationFactory
from packages.models import Status
from packages.tests.helpers import make_package
from transfers.models import Status as TransferStatus
from transfers.tests.factories import make_transfer

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(client, django_user_model):
    here = StockLocationFactory(code="HERE", name="Here")
    other = StockLocationFactory(code="OTHER")
    user = django_user_model.objects.create_user("op", password="pw")
    OperatorAssignment.objects.create(user=user, location=here)
    client.force_login(user)
    return client, here, other


def test_location_page_counts_every_state_and_links_the_lists(setup):
    client, here, other = setup
    for status in (Status.PENDING, Status.PENDING, Status.DELIVERED, Status.TO_BE_RESCHEDULED):
        make_package(status, location=here)
    make_transfer(TransferStatus.IN_TRANSIT,
                  package=make_package(Status.PENDING_TRANSFER, location=here, quantities=()), source=other)
    make_transfer(TransferStatus.WAITING,
                  package=make_package(Status.PENDING_TRANSFER, location=other, quantities=()), source=here)

    response = client.get(reverse("locations:detail", args=["HERE"]))

    counts = {c["slug"]: c["count"] for c in response.context["package_counts"]}
    assert len(counts) == 17
    assert (counts["pending"], counts["delivered"], counts["to_be_rescheduled"],
            counts["pending_transfer"]) == (2, 1, 1, 1)
    transfers = {d["key"]: {c["slug"]: c["count"] for c in d["counts"]}
                 for d in response.context["transfer_counts"]}
    assert transfers["incoming"]["in_transit"] == 1 and sum(transfers["incoming"].values()) == 1
    assert transfers["outgoing"]["waiting"] == 1 and sum(transfers["outgoing"].values()) == 1
    html = response.content.decode()
    assert f'{reverse("packages:list")}?location=HERE&amp;status=pending' in html
    assert f'{reverse("transfers:list")}?location=HERE&amp;direction=incoming&amp;status=in_transit' in html
    assert "Waiting Transfer Operations" in html


def test_location_page_of_another_location_is_404(setup):
    client, _, _ = setup
    assert client.get(reverse("locations:detail", args=["OTHER"])).status_code == 404
    assert client.get(reverse("locations:detail", args=["NOPE"])).status_code == 404
