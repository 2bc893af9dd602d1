"""The operator web UI in a real browser: Playwright for Python driving Debian's Chromium
against a live server. Screenshots of each screen go to ``var/screenshots/`` (the folder is
printed in the test output). Skipped with the reason when ``/usr/bin/chromium`` is missing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from locations.models import OperatorAssignment
from locations.tests.factories import StockLocationFactory
from packages.models import Package, PackageTransition, Status
from packages.tests.helpers import make_package

CHROMIUM = Path("/usr/bin/chromium")  # the ``browser`` fixture (conftest.py) drives it

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (apt-get install chromium)"),
    pytest.mark.django_db(transaction=True),
]


def _operator(django_user_model, username: str, location) -> None:
    user = django_user_model.objects.create_user(username, password="pw")
    OperatorAssignment.objects.create(user=user, location=location)


def _login(browser, live_server, username: str):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/packages/movements/")
    return context, page


def test_operator_drills_down_packs_ships_and_sees_the_ticket(browser, live_server, django_user_model,
                                                              screen):
    here = StockLocationFactory(code="HERE", name="Campinas DC", city="Campinas", region="SP",
                                postcode="13000-000")
    there = StockLocationFactory(code="THERE", name="Recife Store", city="Recife", region="PE")
    _operator(django_user_model, "olivia", here)
    _operator(django_user_model, "bruno", there)
    package = make_package(Status.PENDING, location=here, number="WEB-0001", order_number="ORDER-77",
                           quantities=(2, 1))
    make_package(Status.IN_PROGRESS, location=here)
    make_package(Status.PENDING, location=there)

    context, page = _login(browser, live_server, "olivia")
    assert page.locator("article.card").count() == 1  # only her location
    waiting = page.locator('article[data-location="HERE"] a[data-status="100"]')
    assert waiting.get_attribute("data-count") == "1"
    screen(page, "dashboard")

    waiting.click()
    page.wait_for_url("**/packages/?location=HERE&status=pending")
    assert page.locator('.slide.active[data-status="pending"]').inner_text().split() == ["Pending", "1"]
    screen(page, "package-list")

    page.click(f'tr[data-package="{package.number}"] a')
    page.wait_for_url(f"**/packages/{package.number}/")
    assert page.locator('[data-testid="package-status"]').inner_text() == "Pending"
    page.click('[data-testid="select-action"] summary')
    assert page.locator('[data-testid="select-action"] a[data-action="report_missing"]').is_visible()
    screen(page, "package-detail-pending")
    page.click('[data-testid="select-action"] summary')

    page.click('[data-testid="primary-action"] button[data-action="complete_packaging"]')
    page.wait_for_selector("text=Packaging Completed: the package is now Packaging Completed.")
    assert page.locator('[data-testid="package-status"]').inner_text() == "Packaging Completed"
    screen(page, "packaging-completed")

    page.fill('[data-testid="primary-action"] input[name="carrier"]', "Correios")
    page.fill('[data-testid="primary-action"] input[name="tracking_number"]', "BR123456789SP")
    page.click('[data-testid="primary-action"] button[data-action="ship"]')
    page.wait_for_selector('[data-testid="shipping-ticket"]')
    assert page.locator('[data-testid="package-status"]').inner_text() == "Shipped"
    assert page.locator('[data-testid="ticket-tracking-number"]').inner_text() == "BR123456789SP"
    screen(page, "shipped-with-ticket")

    page.goto(f"{live_server.url}/packages/{package.number}/ticket/")
    ticket = page.locator('article[data-testid="shipping-ticket"]')
    assert "Campinas, SP" in ticket.inner_text() and "Customer of order ORDER-77" in ticket.inner_text()
    barcode = page.locator('svg.barcode[data-value="WEB-0001"]')
    assert barcode.is_visible()
    shot = screen(page, "printable-ticket")
    zbarimg = shutil.which("zbarimg")
    if zbarimg:  # optional: decode the rendered barcode when zbar-tools is installed
        barcode_png = shot.with_name(shot.stem + "-barcode.png")
        barcode.screenshot(path=str(barcode_png))
        decoded = subprocess.run([zbarimg, "-q", "--raw", str(barcode_png)], capture_output=True, text=True)
        assert decoded.stdout.strip() == "WEB-0001"
    package.refresh_from_db()
    assert (package.status, package.carrier, package.tracking_number) == (
        Status.SHIPPED, "Correios", "BR123456789SP")
    assert list(PackageTransition.objects.filter(package=package).values_list("action", "actor")) == [
        ("complete_packaging", "user:olivia"), ("ship", "user:olivia")]

    # A second operator, at another location, cannot open that package.
    other_context, other_page = _login(browser, live_server, "bruno")
    response = other_page.goto(f"{live_server.url}/packages/{package.number}/")
    assert response.status == 404
    assert "Not found" in other_page.locator("h1").inner_text()
    screen(other_page, "other-operator-404")
    other_page.goto(f"{live_server.url}/packages/movements/")
    assert other_page.locator('article[data-location="HERE"]').count() == 0
    other_context.close()
    context.close()


def test_stale_form_after_a_concurrent_action_shows_the_conflict(browser, live_server, django_user_model,
                                                                  screen):
    here = StockLocationFactory(code="HERE2", name="Santos DC", city="Santos")
    _operator(django_user_model, "olivia", here)
    _operator(django_user_model, "carl", here)
    package = make_package(Status.PENDING, location=here, number="WEB-STALE")

    context, page = _login(browser, live_server, "olivia")
    page.goto(f"{live_server.url}/packages/{package.number}/")  # the form she will submit late
    colleague_context, colleague = _login(browser, live_server, "carl")
    colleague.goto(f"{live_server.url}/packages/{package.number}/")

    # A colleague acts first...
    colleague.click('[data-testid="primary-action"] button[data-action="complete_packaging"]')
    colleague.wait_for_selector("text=the package is now Packaging Completed")
    colleague_context.close()
    # ...then her page submits the form it still shows.
    page.click('[data-testid="primary-action"] button[data-action="complete_packaging"]')
    page.wait_for_selector("text=it is now Packaging Completed")
    message = page.locator(".msg-warning").inner_text()
    assert message.startswith("Someone else changed this package (user:carl: Packaging Completed)")
    assert "Nothing was done" in message
    assert page.locator('[data-testid="package-status"]').inner_text() == "Packaging Completed"
    screen(page, "stale-form-conflict")

    # Double submit: the same form posted twice in a row acts once.
    page.evaluate("""() => {
        const form = document.querySelector('[data-testid="primary-action"] form');
        form.querySelector('input[name=carrier]').value = 'Loggi';
        form.querySelector('input[name=tracking_number]').value = 'LG-1';
        form.requestSubmit(); form.requestSubmit();
    }""")
    page.wait_for_selector('[data-testid="shipping-ticket"]')
    assert PackageTransition.objects.filter(package=package, action="ship").count() == 1

    # A menu action with items: Product Not Found on another package, then the replacement.
    other = make_package(Status.PENDING, location=here, number="WEB-MISSING", quantities=(2,), on_hand=4)
    page.goto(f"{live_server.url}/packages/{other.number}/")
    page.click('[data-testid="select-action"] summary')
    page.click('[data-testid="select-action"] a[data-action="report_missing"]')
    item = other.items.get()
    page.fill(f'input[name="qty_{item.pk}"]', "1")
    screen(page, "product-not-found-form")
    page.click('[data-testid="action-form"] button[type=submit]')
    page.wait_for_selector("text=Replacement package")
    screen(page, "product-not-found-done")
    assert page.locator('[data-testid="replacement-link"]').is_visible()
    context.close()

    assert PackageTransition.objects.filter(package=package, action="complete_packaging").count() == 1
    assert Package.objects.get(pk=other.pk).status == Status.CANCELED


def test_scanning_a_package_number_into_the_top_bar_opens_the_package(browser, live_server,
                                                                       django_user_model, screen):
    here = StockLocationFactory(code="SCAN1", name="Scan DC")
    _operator(django_user_model, "olivia", here)
    package = make_package(Status.PENDING, location=here, number="SCAN-0001")
    make_package(Status.PENDING, location=here, number="SCAN-00010")

    context, page = _login(browser, live_server, "olivia")
    assert page.evaluate("document.activeElement.id") == "scan"  # focused: the scanner types there
    page.keyboard.type(package.number)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/packages/{package.number}/")
    assert page.locator('[data-testid="package-status"]').inner_text() == "Pending"
    screen(page, "scanned-package-number")
    context.close()


def test_scanning_a_tracking_number_into_the_top_bar_opens_its_package(browser, live_server,
                                                                       django_user_model, screen):
    here = StockLocationFactory(code="SCAN2", name="Scan DC 2")
    _operator(django_user_model, "olivia", here)
    package = make_package(Status.SHIPPED, location=here, number="SCAN-0002", carrier="Correios",
                           tracking_number="BR987654321SP")

    context, page = _login(browser, live_server, "olivia")
    page.goto(f"{live_server.url}/packages/")
    page.fill("#scan", "BR987654321SP")
    page.press("#scan", "Enter")
    page.wait_for_url(f"**/packages/{package.number}/")
    assert page.locator('[data-testid="package-status"]').inner_text() == "Shipped"
    screen(page, "scanned-tracking-number")
    context.close()


def test_select_all_on_the_page_and_run_a_bulk_action(browser, live_server, django_user_model, screen):
    here = StockLocationFactory(code="BULK1", name="Bulk DC")
    _operator(django_user_model, "olivia", here)
    packages = [make_package(Status.PENDING, location=here, number=f"BULK-W{i}") for i in range(3)]

    context, page = _login(browser, live_server, "olivia")
    page.goto(f"{live_server.url}/packages/?location=BULK1&status=pending")
    page.check('[data-testid="bulk-bar"] [data-select-page]')
    assert page.locator('input[name="selected"]:checked').count() == 3
    page.select_option('[data-testid="bulk-action"]', "complete_packaging")
    screen(page, "bulk-selected")
    page.click('[data-testid="bulk-run"]')
    page.wait_for_selector('[data-testid="bulk-results"]')
    assert page.locator('[data-testid="bulk-results"] tr[data-result="done"]').count() == 3
    screen(page, "bulk-results")
    assert set(Package.objects.filter(pk__in=[p.pk for p in packages]).values_list("status", flat=True)) == {
        Status.PACKAGING_COMPLETED}
    context.close()
