"""Export CSV in a real browser: after a live search (htmx swaps the results), the link
downloads exactly the rows the list shows. Skipped with the reason when
``/usr/bin/chromium`` is missing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from locations.models import OperatorAssignment
from locations.tests.factories import StockLocationFactory
from packages.models import Status
from packages.tests.helpers import make_package

CHROMIUM = Path("/usr/bin/chromium")  # the ``browser`` fixture (conftest.py) drives it

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (apt-get install chromium)"),
    pytest.mark.django_db(transaction=True),
]


def test_export_link_downloads_the_rows_of_the_live_search(browser, live_server, django_user_model):
    here, there = StockLocationFactory(code="HERE"), StockLocationFactory(code="THERE")
    user = django_user_model.objects.create_user("olivia", password="pw")
    OperatorAssignment.objects.create(user=user, location=here)
    make_package(Status.PENDING, location=here, number="FIND-1", order_number='=HYPERLINK("x")')
    make_package(Status.PENDING, location=here, number="FIND-2")
    make_package(Status.PENDING, location=here, number="OTHER-1")
    make_package(Status.PENDING, location=there, number="FIND-THERE")

    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "olivia")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/packages/movements/")
    page.goto(f"{live_server.url}/packages/")
    assert page.locator("tr[data-package]").count() == 3
    page.get_by_label("Search packages").fill("find")
    page.wait_for_function("document.querySelectorAll('tr[data-package]').length === 2")

    with page.expect_download() as download:
        page.click('[data-testid="export-csv"]')
    assert download.value.suggested_filename.startswith("packages-")
    body = Path(download.value.path()).read_text(encoding="utf-8")
    context.close()
    assert body.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(body[1:])))
    assert sorted(row["number"] for row in rows) == ["FIND-1", "FIND-2"]
    assert {row["order_number"] for row in rows} == {"'=HYPERLINK(\"x\")", "ORDER-1"}
