"""Operator pages and flash messages speak in labels and links, not slugs."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from locations.models import OperatorAssignment
from locations.tests.factories import StockLocationFactory
from packages.models import Status
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db


@pytest.fixture
def here():
    return StockLocationFactory(code="HERE", name="Here Warehouse")


@pytest.fixture
def operator(django_user_model, here):
    user = django_user_model.objects.create_user("olivia", password="pw")
    OperatorAssignment.objects.create(user=user, location=here)
    return user


@pytest.fixture
def op_client(client, operator):
    client.force_login(operator)
    return client


def action_url(package, action):
    return reverse("packages:action", args=[package.number, action])


def detail_url(package):
    return reverse("packages:detail", args=[package.number])


def history_cells(page: str) -> str:
    return page.split('data-testid="history"', 1)[1].split("</table>", 1)[0]


def test_package_page_shows_the_reason_label_not_its_slug(op_client, here):
    package = make_package(Status.PENDING, location=here, quantities=(1,), on_hand=3)
    item = package.items.get()
    op_client.post(action_url(package, "report_missing"), {"version": 1, f"qty_{item.pk}": 1})

    page = op_client.get(detail_url(package)).content.decode()

    assert "product_not_found" not in page
    assert "Product Not Found" in history_cells(page)
    assert re.search(r"<dt>Cancellation reason</dt><dd>Product Not Found</dd>", page)
