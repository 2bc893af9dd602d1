"""In a real browser: the package page says what a Pending Invoice package waits for and the
staff operator attaches the invoice from the panel; a dashboard's ageing figure opens the list of
exactly those packages. Fixtures (``browser``, ``screen``) from conftest.py."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from locations.tests.factories import StockLocationFactory
from packages.actions import WAITS
from packages.models import Package, Status
from packages.tests.factories import BrandFactory
from packages.tests.helpers import make_package
from packages.tests.test_browser import CHROMIUM, _login, _operator

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (apt-get install chromium)"),
    pytest.mark.django_db(transaction=True),
]


def test_staff_attaches_the_missing_invoice_from_the_waiting_panel(browser, live_server,
                                                                   django_user_model, screen):
    here = StockLocationFactory(code="HERE", name="Campinas DC")
    _operator(django_user_model, "olivia", here)
    django_user_model.objects.filter(username="olivia").update(is_staff=True)
    brand = BrandFactory(slug="nf", requires_invoice=True)
    package = make_package(Status.PENDING_INVOICE, location=here, brand=brand, number="WEB-INV-1",
                           carrier="Correios", tracking_number="BR1SP")

    context, page = _login(browser, live_server, "olivia")
    page.goto(f"{live_server.url}/packages/{package.number}/")
    panel = page.locator('[data-testid="waiting-reason"]')
    assert panel.locator('[data-testid="waits-who"]').inner_text() == WAITS[Status.PENDING_INVOICE].who
    screen(page, "pending-invoice")
    panel.locator('input[name="invoice_number"]').fill("NF-000123")
    panel.locator('input[name="invoice_date"]').fill("2026-03-02")
    panel.locator('button[data-action="attach_invoice"]').click()
    page.wait_for_selector("text=Attach Invoice: the package is now Shipped.")
    assert page.locator('[data-testid="package-status"]').inner_text() == "Shipped"
    assert page.locator('[data-testid="waits-who"]').inner_text() == WAITS[Status.SHIPPED].who
    screen(page, "invoice-attached-shipped")
    package.refresh_from_db()
    assert (package.invoice_number, package.invoice_date) == ("NF-000123", dt.date(2026, 3, 2))
    context.close()


def test_ageing_figure_opens_the_list_of_exactly_those_packages(browser, live_server, django_user_model,
                                                                screen):
    here = StockLocationFactory(code="HERE", name="Campinas DC")
    _operator(django_user_model, "olivia", here)
    now = timezone.now()
    old = make_package(Status.IN_PROGRESS, location=here, status_changed_at=now - dt.timedelta(hours=30),
                       ship_by=now - dt.timedelta(hours=2))
    make_package(Status.PENDING, location=here, status_changed_at=now - dt.timedelta(minutes=5))
    make_package(Status.SHIPPED, location=here, status_changed_at=now - dt.timedelta(hours=30))

    context, page = _login(browser, live_server, "olivia")
    card = page.locator('article[data-location="HERE"]')
    assert card.locator('[data-age="gt24h"]').get_attribute("data-count") == "1"
    assert card.locator('[data-age="late"]').get_attribute("data-count") == "1"
    screen(page, "dashboard-ageing")
    card.locator('[data-age="gt24h"]').click()
    page.wait_for_url("**/packages/?location=HERE&open=true&age=gt24h")
    assert page.locator('[data-testid="package-table"] tbody tr').count() == 1
    assert page.locator(f'tr[data-package="{old.number}"]').count() == 1
    screen(page, "list-over-24h")
    page.goto(f"{live_server.url}/locations/HERE/")
    page.locator('#ageing [data-age="late"]').click()
    page.wait_for_url("**/packages/?location=HERE&late=true")
    assert page.locator('[data-testid="package-table"] tbody tr').count() == 1
    assert Package.objects.count() == 3
    context.close()
