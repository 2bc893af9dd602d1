"""Every operator screen on a phone (390 px), a tablet (768 px) and a laptop (1366 px): no
sideways scrolling of the page, the status slider shows every label whole, touch targets of at
least 44 px on the phone, and the Select Action menu closes on Escape and on a click outside.

Playwright for Python with Debian's Chromium (``browser`` fixture in ``conftest.py``); the data
has long SKU codes and long location names and codes so that overflow would show. Full-page
screenshots go to ``var/screenshots/responsive-<page>-<width>.png``.
"""

from __future__ import annotations

import hashlib

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

# Every control a finger may hit on a phone, in the top bar and the main content; checked when
# visible. A checkbox counts through the label around it (the label is the hit area), so the
# bare box is not measured on its own.
TOUCH_TARGETS = tuple(
    f"{area} {control}"
    for area in (".topbar", "main")
    for control in (
        "a[href]",
        "button",
        "input:not([type=hidden]):not([type=checkbox]):not([type=radio])",
        "select",
        "textarea",
        "summary",
        "label:has(> input[type=checkbox])",
        "label:has(> input[type=radio])",
        "input[type=checkbox]:not(label > input)",
    )
)


def _hex(seed: str) -> str:
    """A 32-character hexadecimal code, as the demo's location codes and package numbers."""
    return hashlib.md5(seed.encode()).hexdigest()


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
        if (el.closest('details:not([open]) > :not(summary)')) continue;  // in a closed menu
        if (box.height < min || box.width < min) {
            const text = el.textContent.trim() || el.getAttribute('aria-label') || el.name || '';
            small.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' "' + text.slice(0, 30)
                       + '" ' + Math.round(box.width) + 'x' + Math.round(box.height));
        }
    }
    return small;
}"""

# Characters per line of each code (a text range yields one rectangle per line): SKU cells of
# a package page, package numbers of the package list.
CODE_LINES_JS = """(selector) => [...document.querySelectorAll(selector)].map(el => {
    const range = document.createRange();
    range.selectNodeContents(el);
    const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
    return {code: el.textContent.trim(), lines};
})"""
SKU_CELLS = "tr[data-sku] td.mono"
PACKAGE_NUMBER_LINKS = '[data-testid="package-table"] tr[data-package] td > a[href^="/packages/"]'


def _codes_wrap_by_line_width(page, selector: str, name: str, width: int) -> None:
    """A long code wraps by line width, never a few characters a line."""
    lines = page.evaluate(CODE_LINES_JS, selector)
    assert lines, (name, selector)
    for cell in lines:
        assert len(cell["code"]) / cell["lines"] >= 10, (name, width, cell)


SWITCH_JS = """() => [...document.querySelectorAll('[data-testid="language-switch"] button')].map(b => {
    const box = b.getBoundingClientRect();
    return {lang: b.value, top: Math.round(box.top), left: Math.round(box.left),
            right: Math.round(box.right), current: b.getAttribute('aria-current') === 'true',
            background: getComputedStyle(b).backgroundColor};
})"""


def _long_skus(package) -> None:
    for item in package.items.all():
        Sku.objects.filter(pk=item.sku_id).update(code=next(LONG_SKUS))


@pytest.fixture
def world(django_user_model, monkeypatch):
    """A warehouse and a store with long names and hexadecimal codes, an operator working at
    both (staff, so the top bar shows everything), packages in seven states with demo-shaped
    numbers and long SKU codes, a transfer between the two, and enough packages for a second
    page of the list."""
    monkeypatch.setattr("packages.views.PACKAGES_PER_PAGE", 5)
    warehouse = StockLocationFactory(
        code=_hex("warehouse"),
        name="Centro de Distribuição Regional de São José dos Campos — Armazém Norte",
        city="São José dos Campos",
        region="SP",
        postcode="12200-000",
    )
    store = StockLocationFactory(
        code=_hex("store"),
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
            number=f"{_hex('order-1')}-1",
            order_number="ORDER-BR-2026-00000000012345",
        ),
        "out-of-stock": make_package(
            Status.PRODUCT_OUT_OF_STOCK, location=warehouse, quantities=(4,), number=f"{_hex('order-2')}-1"
        ),
        "shipped": make_package(
            Status.SHIPPED,
            location=warehouse,
            quantities=(1, 1),
            number=f"{_hex('order-3')}-1",
            carrier="Total Express",
            tracking_number="TE-BR-0000000000000123456789",
        ),
        "canceled": make_package(Status.CANCELED, location=warehouse, number=f"{_hex('order-4')}-1"),
        "pending-transfer": make_package(
            Status.PENDING_TRANSFER, location=warehouse, quantities=(), number=f"{_hex('order-5')}-1"
        ),
        "pending-shipping-label": make_package(
            Status.PENDING_SHIPPING_LABEL, location=warehouse, quantities=(1,), number=f"{_hex('order-6')}-1"
        ),
        "ready-to-packaging": make_package(
            Status.READY_TO_PACKAGING, location=warehouse, quantities=(1, 2), number=f"{_hex('order-7')}-2"
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


def _check_page(page, name: str, width: int, problems: list) -> None:
    """Screenshot the page; add to ``problems`` what overflows the width and, on a phone, the
    touch targets under 44 px (every page is checked before the test fails)."""
    page.screenshot(path=str(SCREENSHOTS / f"responsive-{name}-{width}.png"), full_page=True)
    fit = page.evaluate(OVERFLOW_JS)
    if fit["doc"] > fit["vw"] or fit["body"] > fit["vw"]:
        problems.append((name, width, "overflow", fit))
    if width <= 400:
        small = page.evaluate(SMALL_TARGETS_JS, [list(TOUCH_TARGETS), TOUCH_MIN_PX])
        if small:
            problems.append((name, width, "small touch targets", small))


def _pages(world) -> list[tuple[str, str]]:
    """(name, path) of every operator page of the world, one package page per state."""
    warehouse, transfer = world["warehouse"], world["transfer"]
    pending = world["packages"]["pending"].number
    return [
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
        ("preferences", "/preferences/"),
    ]


def _walk(page, base: str, world, width: int, problems: list, tag: str = "") -> None:
    """Check every page of ``_pages`` at ``width``; package pages also for SKU wrapping."""
    for name, path in _pages(world):
        response = page.goto(base + path)
        assert response.status == 200, (name, response.status)
        _check_page(page, name + tag, width, problems)
        if name.startswith("package-list"):
            _codes_wrap_by_line_width(page, PACKAGE_NUMBER_LINKS, name, width)
        elif name.startswith("package-") and name != "package-ticket":
            _codes_wrap_by_line_width(page, SKU_CELLS, name, width)


def _bulk_run(page, base: str, world, width: int, problems: list, tag: str = "") -> None:
    """Block every package at the warehouse through the list's bulk bar: check the input form
    and the results page (blocked rows and refused ones with their reasons). Changes the data:
    run it last."""
    page.goto(f"{base}/packages/?location={world['warehouse'].code}")
    page.check('[data-testid="select-all-matching"]')
    page.select_option('[data-testid="bulk-action"]', "block")
    page.click('[data-testid="bulk-run"]')
    page.wait_for_selector('[data-testid="bulk-input-form"]')
    _check_page(page, "bulk-form" + tag, width, problems)
    page.fill('[name="input-reason"]', "Inventário rotativo do corredor norte: contagem cega em andamento")
    page.click('[data-testid="bulk-input-form"] button[type=submit]')
    page.wait_for_selector('[data-testid="bulk-results"]')
    results = page.locator('[data-testid="bulk-results"] tbody tr')
    assert results.count() == len(world["packages"]) + 4, results.count()
    assert page.locator('[data-testid="bulk-results"] tr[data-result="done"]').count() >= 1
    assert page.locator('[data-testid="bulk-results"] tr:not([data-result="done"])').count() >= 1
    _check_page(page, "bulk-results" + tag, width, problems)


@pytest.mark.parametrize("width", WIDTHS)
def test_every_operator_page_fits_the_width(browser, live_server, world, width):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    anonymous = browser.new_context(viewport={"width": width, "height": 900})
    login_page = anonymous.new_page()
    login_page.goto(f"{live_server.url}/")  # redirects to the login form
    _check_page(login_page, "login", width, problems)
    anonymous.close()

    context, page = _context(browser, live_server, width)
    base = live_server.url
    warehouse, transfer = world["warehouse"], world["transfer"]
    _walk(page, base, world, width, problems)

    # The language switcher: its buttons side by side, the current language filled.
    page.goto(base + "/preferences/")
    switch = page.evaluate(SWITCH_JS)
    assert [b["lang"] for b in switch] == ["en", "tr"], switch
    side_by_side = switch[0]["top"] == switch[1]["top"] and switch[0]["right"] <= switch[1]["left"] + 1
    assert side_by_side, (width, switch)
    assert switch[0]["current"] and not switch[1]["current"], switch
    assert switch[0]["background"] != switch[1]["background"], (width, switch)

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
    _check_page(page, "package-list-at-location", width, problems)

    # Transfer tables name the locations; the code is in the title.
    page.goto(f"{base}/transfers/")
    source = page.locator(f'tr[data-transfer="{transfer.number}"] td[data-label="From"] .location-name')
    assert source.inner_text() == world["store"].name
    assert source.get_attribute("title") == world["store"].code

    _bulk_run(page, base, world, width, problems)
    context.close()
    assert problems == [], "\n".join(map(str, problems))


def test_every_operator_page_fits_a_phone_in_turkish(browser, live_server, world):
    """Turkish labels are longer than the English ones: the same pages at 390 px in Turkish."""
    context, page = _context(browser, live_server, 390)
    page.click('[data-testid="language-switch"] button[value="tr"]')
    page.wait_for_function("document.documentElement.lang === 'tr'")
    problems = []
    _walk(page, live_server.url, world, 390, problems, tag="-tr")
    _bulk_run(page, live_server.url, world, 390, problems, tag="-tr")
    context.close()
    assert problems == [], "\n".join(map(str, problems))


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
