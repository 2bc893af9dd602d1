"""Every operator screen on a phone (390 px), a tablet (768 px) and a laptop (1366 px): no
sideways scrolling of the page, the status slider shows every label whole, touch targets of at
least 44 px on the phone, and the Select Action menu closes on Escape and on a click outside.

Playwright for Python with Debian's Chromium (``browser`` fixture in ``conftest.py``); the data
has long SKU codes and long location names and codes so that overflow would show. Full-page
screenshots go to ``var/screenshots/responsive-<page>-<width>.png``.
"""

from __future__ import annotations

import pytest

from locations.models import OperatorAssignment, Sku
from locations.tests.factories import StockLocationFactory
from packages.models import Status
from packages.tests.conftest import SCREENSHOTS
from packages.tests.helpers import make_package
from transfers.models import Status as TransferStatus
from transfers.tests.factories import make_transfer

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = (390, 768, 1366)
TOUCH_MIN_PX = 44
LONG_SKUS = iter(f"MLB-ELETRONICOS-SMARTPHONE-GALAXY-A54-5G-128GB-PRETO-{n:04d}" for n in range(10_000))

# Controls a finger must hit on a phone; checked when visible.
TOUCH_TARGETS = (
    "button",
    ".button",
    ".slide",
    ".pagination a",
    ".navmenu > summary",
    ".mainnav a",
    ".who a",
    ".menu > summary",
    ".menu-list a",
    ".menu-list button",
    "table.stack td > a",
    ".card footer a",
)

OVERFLOW_JS = """() => {
    const vw = window.innerWidth;
    const culprits = [];
    for (const el of document.body.querySelectorAll('*')) {
        if (el.closest('.table-scroll')) continue;
        const box = el.getBoundingClientRect();
        if (box.width && box.right > vw + 1)
            culprits.push(`${el.tagName.toLowerCase()}.${el.className} right=${Math.round(box.right)}`);
    }
    return {vw, doc: document.documentElement.scrollWidth, body: document.body.scrollWidth,
            culprits: culprits.slice(0, 8)};
}"""

SMALL_TARGETS_JS = """([selectors, min]) => {
    const small = [];
    for (const el of document.querySelectorAll(selectors.join(','))) {
        const box = el.getBoundingClientRect();
        if (!el.getClientRects().length || getComputedStyle(el).visibility === 'hidden') continue;
        if (box.height < min || box.width < min)
            small.push(el.tagName.toLowerCase() + ' "' + el.textContent.trim().slice(0, 30) + '" '
                       + Math.round(box.width) + 'x' + Math.round(box.height));
    }
    return small;
}"""

# Characters per line of each SKU code cell (a text range yields one rectangle per line).
SKU_LINES_JS = """() => [...document.querySelectorAll('tr[data-sku] td.mono')].map(td => {
    const range = document.createRange();
    range.selectNodeContents(td);
    const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
    return {sku: td.textContent.trim(), lines};
})"""


def _long_skus(package) -> None:
    for item in package.items.all():
        Sku.objects.filter(pk=item.sku_id).update(code=next(LONG_SKUS))


@pytest.fixture
def world(django_user_model, monkeypatch):
    """A warehouse and a store with long names and codes, an operator working at both (staff,
    so the top bar shows everything), five packages in five states with long SKU codes, a
    transfer between the two, and enough packages for a second page of the list."""
    monkeypatch.setattr("packages.views.PACKAGES_PER_PAGE", 5)
    warehouse = StockLocationFactory(
        code="SJC-DISTRIBUTION-CENTRE-NORTH-01",
        name="Centro de Distribuição Regional de São José dos Campos — Armazém Norte",
        city="São José dos Campos",
        region="SP",
        postcode="12200-000",
    )
    store = StockLocationFactory(
        code="CAMPINAS-PARQUE-DOM-PEDRO-STORE-2",
        name="Loja Shopping Parque Dom Pedro Campinas Piso Superior",
        city="Campinas",
        region="SP",
    )
    user = django_user_model.objects.create_user("olivia.operadora.turno.noite", password="pw", is_staff=True)
    for location in (warehouse, store):
        OperatorAssignment.objects.create(user=user, location=location)
    packages = {
        "pending": make_package(
            Status.PENDING,
            location=warehouse,
            quantities=(2, 1, 3),
            number="PKG-2026-000000000001-A",
            order_number="ORDER-BR-2026-00000000012345",
        ),
        "out-of-stock": make_package(
            Status.PRODUCT_OUT_OF_STOCK, location=warehouse, quantities=(4,), number="PKG-2026-000000000002-A"
        ),
        "shipped": make_package(
            Status.SHIPPED,
            location=warehouse,
            quantities=(1, 1),
            number="PKG-2026-000000000003-A",
            carrier="Total Express",
            tracking_number="TE-BR-0000000000000123456789",
        ),
        "canceled": make_package(Status.CANCELED, location=warehouse, number="PKG-2026-000000000004-A"),
        "pending-transfer": make_package(
            Status.PENDING_TRANSFER, location=warehouse, quantities=(), number="PKG-2026-000000000005-A"
        ),
    }
    transfer = make_transfer(
        TransferStatus.IN_TRANSIT, package=packages["pending-transfer"], source=store, quantities=(2, 1)
    )
    for package in packages.values():
        _long_skus(package)
    for status in (Status.TO_BE_RESCHEDULED, Status.PENDING, Status.IN_PROGRESS, Status.READY_TO_PACKAGING):
        make_package(status, location=warehouse)
    return {"warehouse": warehouse, "store": store, "packages": packages, "transfer": transfer}


def _context(browser, live_server, width: int, username: str = "olivia.operadora.turno.noite"):
    context = browser.new_context(viewport={"width": width, "height": 900}, has_touch=width < 1000)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/packages/movements/")
    return context, page


def _check_page(page, name: str, width: int) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"responsive-{name}-{width}.png"), full_page=True)
    fit = page.evaluate(OVERFLOW_JS)
    assert fit["doc"] <= fit["vw"] and fit["body"] <= fit["vw"], (name, width, fit)
    if width <= 400:
        small = page.evaluate(SMALL_TARGETS_JS, [list(TOUCH_TARGETS), TOUCH_MIN_PX])
        assert small == [], (name, width, small)


@pytest.mark.parametrize("width", WIDTHS)
def test_every_operator_page_fits_the_width(browser, live_server, world, width):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    anonymous = browser.new_context(viewport={"width": width, "height": 900})
    login_page = anonymous.new_page()
    login_page.goto(f"{live_server.url}/")  # redirects to the login form
    _check_page(login_page, "login", width)
    anonymous.close()

    context, page = _context(browser, live_server, width)
    base = live_server.url
    warehouse, transfer = world["warehouse"], world["transfer"]
    pending = world["packages"]["pending"].number
    pages = [
        ("dashboard", "/packages/movements/"),
        ("transfer-movements", "/transfers/movements/"),
        ("location", f"/locations/{warehouse.code}/"),
        ("package-list", "/packages/"),
        ("package-list-second-page", "/packages/?page=2"),
        *[(f"package-{state}", f"/packages/{p.number}/") for state, p in world["packages"].items()],
        ("package-ticket", f"/packages/{world['packages']['shipped'].number}/ticket/"),
        ("action-form-report-missing", f"/packages/{pending}/actions/report_missing/"),
        ("action-form-split", f"/packages/{pending}/actions/split/"),
        ("transfer-list", "/transfers/"),
        (
            "transfer-list-incoming",
            f"/transfers/?location={warehouse.code}&direction=incoming&status=in_transit",
        ),
        ("transfer", f"/transfers/{transfer.number}/"),
    ]
    for name, path in pages:
        response = page.goto(base + path)
        assert response.status == 200, (name, response.status)
        _check_page(page, name, width)
        if name.startswith("package-") and "list" not in name and name != "package-ticket":
            lines = page.evaluate(SKU_LINES_JS)
            assert lines, name
            for cell in lines:  # a long SKU code wraps by line width, never a few characters a line
                assert len(cell["sku"]) / cell["lines"] >= 10, (name, width, cell)

    # The status slider shows every label whole, "To Be Rescheduled" the longest.
    page.goto(f"{base}/packages/?location={warehouse.code}")
    slide = page.locator('.slide[title^="To Be Rescheduled"]')
    fits = slide.evaluate("""el => {
        const label = el.querySelector('span'), box = el.getBoundingClientRect();
        return {label: label.scrollWidth <= label.clientWidth && el.scrollWidth <= el.clientWidth,
                inside: box.left >= 0 && box.right <= window.innerWidth, text: label.innerText};
    }""")
    assert fits == {"label": True, "inside": True, "text": "To Be Rescheduled"}, (width, fits)
    slider = page.locator('[data-testid="status-slider"]')
    assert slider.evaluate("el => el.scrollWidth <= el.clientWidth")
    _check_page(page, "package-list-at-location", width)

    # Transfer tables name the locations; the code is in the title.
    page.goto(f"{base}/transfers/")
    source = page.locator(f'tr[data-transfer="{transfer.number}"] td[data-label="From"] .location-name')
    assert source.inner_text() == world["store"].name
    assert source.get_attribute("title") == world["store"].code
    context.close()


@pytest.mark.parametrize("width", (390, 1366))
def test_select_action_menu_closes_on_escape_and_outside_click(browser, live_server, world, width):
    context, page = _context(browser, live_server, width)
    page.goto(f"{live_server.url}/packages/{world['packages']['pending'].number}/")
    menu = page.locator('[data-testid="select-action"]')
    summary = menu.locator("summary")
    item = menu.locator('a[data-action="report_missing"]')

    summary.click()
    assert item.is_visible()
    page.keyboard.press("Escape")
    assert not item.is_visible() and menu.get_attribute("open") is None
    assert page.evaluate("document.activeElement.closest('[data-testid=select-action]') !== null")

    summary.click()
    assert item.is_visible()
    page.mouse.click(width - 5, 895)  # outside the menu
    assert not item.is_visible()

    # By keyboard alone: focus the summary, open with Enter, Tab into the items, Escape closes.
    summary.focus()
    page.keyboard.press("Enter")
    assert item.is_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('.menu-list') !== null")
    page.keyboard.press("Escape")
    assert not item.is_visible()
    assert page.evaluate("document.activeElement.tagName") == "SUMMARY"

    # A click inside the menu does not close it.
    summary.click()
    menu.locator(".menu-list").click(position={"x": 2, "y": 2})
    assert item.is_visible()
    context.close()


def test_main_menu_collapses_on_a_phone(browser, live_server, world):
    context, page = _context(browser, live_server, 390)
    nav_link = page.locator('.mainnav a[href="/packages/"]')
    assert not nav_link.is_visible()
    page.click(".navmenu > summary")
    assert nav_link.is_visible()
    box = nav_link.bounding_box()
    assert box["height"] >= TOUCH_MIN_PX
    page.screenshot(path=str(SCREENSHOTS / "responsive-main-menu-open-390.png"), full_page=True)
    page.keyboard.press("Escape")
    assert not nav_link.is_visible()
    page.click(".navmenu > summary")
    page.mouse.click(385, 895)  # outside the menu
    assert not nav_link.is_visible()
    context.close()

    wide, page = _context(browser, live_server, 1366)
    assert page.locator('.mainnav a[href="/packages/"]').is_visible()
    assert not page.locator(".navmenu > summary").is_visible()
    page.mouse.click(1360, 895)  # wide: neither a click outside nor Escape hides the menu
    page.keyboard.press("Escape")
    assert page.locator('.mainnav a[href="/packages/"]').is_visible()
    wide.close()
