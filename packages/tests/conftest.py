import os
from pathlib import Path

import pytest
from django.conf import settings

from locations.models import OperatorAssignment
from locations.tests.factories import StockLocationFactory
from packages.tests.helpers import make_user


@pytest.fixture
def here():
    """The stock location the ``operator`` works at (code ``HERE``)."""
    return StockLocationFactory(code="HERE", name="Here Warehouse")


@pytest.fixture
def elsewhere():
    """A stock location the ``operator`` does not work at."""
    return StockLocationFactory(code="ELSEWHERE", name="Elsewhere Store")


@pytest.fixture
def op_user(django_user_model, here):
    """User ``olivia``, an operator at ``here`` (the root conftest's ``operator`` is an actor)."""
    return make_user(django_user_model, "olivia", here)


@pytest.fixture
def op_client(client, op_user):
    """The test client logged in as ``op_user``."""
    client.force_login(op_user)
    return client


@pytest.fixture
def operator_at(client, django_user_model):
    """``operator_at(*locations)``: log the test client in as an operator working at those
    stock locations; returns the client."""
    def login(*locations):
        user = django_user_model.objects.create_user("olivia")
        for location in locations:
            OperatorAssignment.objects.create(user=user, location=location)
        client.force_login(user)
        return client
    return login


# --- browser tests (Playwright for Python driving Debian's Chromium; no browser download) ------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"


@pytest.fixture(scope="module")
def browser(request):
    """One headless Chromium for the module (Playwright's sync API). Skips the test with the
    reason when ``/usr/bin/chromium`` is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # between browser steps are still plain synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():  # shown even with -q and output capture
        print(f"\nBrowser test screenshots: {SCREENSHOTS}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def screen(request):
    """``screen(page, "name")`` saves ``var/screenshots/<test>-<n>-<name>.png`` (full page)."""
    counter = {"n": 0}

    def shot(page, name: str) -> Path:
        counter["n"] += 1
        path = SCREENSHOTS / f"{request.node.name}-{counter['n']:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return shot
