"""Acceptance: with the browser's language Turkish, the dashboard and a package page show no
English operator text. Every visible text (and title, placeholder, aria-label) must be made of
data (numbers, dates, codes and names from the database) and Turkish texts of the catalogues;
a text the catalogue does not know yet (a new, unmarked string) fails, as does an English
msgid of locale/tr that is rendered untranslated."""

from __future__ import annotations

import functools
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from locations.models import OperatorAssignment
from locations.tests.factories import StockLocationFactory
from oms.local_time import time_zone_names
from packages.models import Package, Status
from packages.tests.conftest import CHROMIUM
from packages.tests.factories import BrandFactory
from packages.tests.helpers import make_package
from transfers.models import Status as TransferStatus
from transfers.models import Transfer
from transfers.tests.factories import make_transfer

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "tr" / "LC_MESSAGES" / "django.po"
PIECES = re.compile(r"%\(\w+\)[sd]|\{\}|<[^>]+>|&\w+;")
# Neither English nor Turkish: names of the product and the languages, codes.
NEUTRAL = {"OMS", "UTC", "EN", "TR", "English", "Türkçe", "SKU"}
ATTRIBUTES = ("title", "placeholder", "aria-label", "data-label")


def _fragments(text: str) -> list[str]:
    """The literal parts of a catalogue text (placeholders and tags removed) with a letter,
    white space normalised as the page texts are (a no-break space is a space)."""
    parts = (re.sub(r"^\W+|\W+$", "", " ".join(part.split())) for part in PIECES.split(text))
    return [part for part in parts if re.search(r"[^\W\d_]", part)]


def _catalogue():
    with open(CATALOGUE, "rb") as f:
        return [m for m in read_po(f, locale="tr") if m.id]


def _any_of(fragments) -> re.Pattern:
    """One pattern matching any of ``fragments`` as whole words, longest first."""
    ordered = sorted(set(fragments), key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, ordered)) + r")(?!\w)")


@functools.cache
def _turkish() -> re.Pattern:
    """Every Turkish text that may be shown: our catalogue's and Django's own (time spans,
    form errors; where they differ from the English)."""
    with translation.override("tr"):
        catalog = translation.trans_real.translation("tr")._catalog
        texts = {value for key, value in catalog.items() if value and value != key}
    for message in _catalogue():  # ours also where Turkish spells it alike ("Transfer", "SKU")
        texts.update(message.string if isinstance(message.string, tuple) else (message.string,))
    return _any_of(f for text in texts for f in _fragments(str(text)))


@functools.cache
def _english() -> re.Pattern:
    """Our msgids whose Turkish differs from them: not one may be shown in Turkish."""
    english = set()
    for message in _catalogue():
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for msgid in ids:
            if msgid not in strings:
                english.update(f for f in _fragments(msgid) if len(f) > 3 and f not in strings)
    return _any_of(english)


class _Texts(HTMLParser):
    """Text nodes (script and style aside) and the shown attributes of an HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        self.texts.extend(value for name, value in attrs if name in ATTRIBUTES and value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(data)


def html_texts(html: str) -> list[str]:
    parser = _Texts()
    parser.feed(html)
    return parser.texts


def untranslated_texts(texts, data: list[str]) -> list[str]:
    """What is left of ``texts`` once data, Turkish texts, numbers, dates and punctuation
    are taken out (empty when everything is Turkish or data), with the English msgids found."""
    data = sorted({d for d in data if d}, key=len, reverse=True)
    left = []
    for text in texts:
        text = " ".join(text.split())
        rest = text
        for value in data:
            rest = rest.replace(value, " ")
        left.extend(f"English {found!r} in {text!r}" for found in _english().findall(rest))
        rest = re.sub(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?", " ", rest)
        rest = _turkish().sub(" ", rest)
        words = [w for w in re.findall(r"[^\W\d_]+", rest) if w not in NEUTRAL]
        if words:
            left.append(f"{' '.join(words)!r} in {text!r}")
    return left


def _scene(django_user_model):
    """An operator at a location with a Pending package (two items), another package in
    each dashboard state, one blocked; returns (user, package, data strings)."""
    here = StockLocationFactory(
        code="IST-01",
        name="Tuzla Depo",
        city="İstanbul",
        region="TR34",
        postcode="34940",
        time_zone="Europe/Istanbul",
    )
    user = django_user_model.objects.create_user("ayse", password="pw")
    OperatorAssignment.objects.create(user=user, location=here)
    package = make_package(
        Status.PENDING, location=here, number="PKG-TR-1", order_number="ORD-55", quantities=(2, 1)
    )
    for status in (Status.IN_PROGRESS, Status.PENDING_TRANSFER, Status.READY_TO_PACKAGING):
        make_package(status, location=here)
    blocked = make_package(Status.IN_PROGRESS, location=here)
    Package.objects.filter(pk=blocked.pk).update(blocked_at=package.created_at, block_reason="audit")
    waiting = make_transfer(
        TransferStatus.WAITING,
        package=make_package(Status.PENDING_TRANSFER, location=here, number="PKG-TR-2", quantities=()),
    )
    data = [
        "audit",
        here.time_zone,
        waiting.number,
        waiting.source.code,
        waiting.source.name,
        user.username,
        here.code,
        here.name,
        here.city,
        here.region,
        here.postcode,
    ]
    for p in Package.objects.select_related("brand"):
        data += [p.number, p.order_number, p.brand.name, p.brand.slug]
        for item in p.items.select_related("sku"):
            data += [item.sku.code, item.sku.name]
    return user, package, data


@pytest.mark.django_db
def test_turkish_browser_sees_no_english_on_the_dashboard_and_a_package_page(client, django_user_model):
    user, package, data = _scene(django_user_model)
    client.force_login(user)
    forms = [f"/packages/{package.number}/actions/{name}/" for name in ("split", "report_missing", "block")]
    for url in (
        "/packages/movements/",
        f"/packages/{package.number}/",
        "/packages/PKG-TR-2/",
        "/packages/",
        *forms,
    ):
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="tr-TR,tr;q=0.9,en;q=0.5")
        assert response.status_code == 200
        html = response.content.decode()
        assert '<html lang="tr">' in html
        left = untranslated_texts(html_texts(html), data)
        assert left == [], f"{url}: {left}"


def _scan(client, urls, data):
    for url in urls:
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="tr-TR,tr;q=0.9,en;q=0.5", follow=True)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert '<html lang="tr">' in html
        left = untranslated_texts(html_texts(html), data)
        assert left == [], f"{url}: {left}"


@pytest.mark.django_db
def test_turkish_staff_sees_no_english_on_lists_waits_ageing_bulk_transfers_and_preferences(
    client, django_user_model
):
    """A staff operator (Attach Invoice in place on a Pending Invoice package): the package
    list with its bulk bar and age filter, the waiting panel, the location page with its
    ageing figures, a bulk action's input form and its results (done, changed meanwhile, not
    found), the scan field's fallback, the transfers and the preferences page."""
    user, package, data = _scene(django_user_model)
    staff = django_user_model.objects.create_user("stella", password="pw", is_staff=True)
    OperatorAssignment.objects.create(user=staff, location=package.location)
    invoiced = make_package(
        Status.PENDING_INVOICE,
        location=package.location,
        number="PKG-TR-3",
        order_number="ORD-56",
        brand=BrandFactory(slug="faturali", name="Faturalı", requires_invoice=True),
        carrier="Aras",
        tracking_number="TRK-77",
    )
    transfer = Transfer.objects.select_related("source", "destination").first()
    data += [
        staff.username,
        "Faturalı",
        "faturali",
        "Aras",
        "TRK-77",
        "NOPE-1",
        "zzz-yok",
        "status=bogus",
        transfer.destination.code,
        transfer.destination.name,
    ]
    data += [invoiced.number, invoiced.order_number]
    data += [v for item in invoiced.items.select_related("sku") for v in (item.sku.code, item.sku.name)]
    client.force_login(staff)
    lang = {"HTTP_ACCEPT_LANGUAGE": "tr-TR,tr;q=0.9,en;q=0.5"}
    other = Package.objects.get(number="PKG-TR-2")
    results = client.post(
        "/packages/actions/",
        {
            "action": "start_preparing",
            "selected": [
                f"{package.version}:{package.number}",
                f"{other.version + 5}:{other.number}",
                "1:NOPE-1",
            ],
        },
        **lang,
    )
    assert results.status_code == 302
    bulk_form = client.post(
        "/packages/actions/", {"action": "block", "selected": [f"1:{invoiced.number}"]}, **lang
    )
    assert bulk_form.status_code == 200 and 'data-testid="bulk-input-form"' in bulk_form.content.decode()
    left = untranslated_texts(html_texts(bulk_form.content.decode()), data)
    assert left == [], f"bulk form: {left}"
    _scan(
        client,
        (
            "/packages/",
            "/packages/?open=true&age=lt1h&late=false",
            f"/packages/{invoiced.number}/",
            f"/locations/{package.location.code}/",
            results.url,
            "/find/?q=zzz-yok",
            "/find/?q=" + "z" * 101,
            "/packages/actions/",
            "/packages/?status=bogus",
            "/transfers/?status=bogus",
            "/transfers/",
            f"/transfers/{transfer.number}/",
        ),
        data,
    )
    for export in (reverse("packages:export"), reverse("transfers:export")):
        refused = client.get(export, {"status": "bogus"}, **lang)
        assert refused.status_code == 400
        left = untranslated_texts(html_texts(refused.content.decode()), data)
        assert left == [], f"{export}: {left}"
    zones = [name for name in time_zone_names() if name not in NEUTRAL]  # data, "UTC" aside
    _scan(client, ("/preferences/",), [*data, *zones])
    shown = client.get(results.url, **lang).content.decode()
    assert all(f'data-result="{kind}"' in shown for kind in ("done", "changed", "not_found")), shown
    html = client.get(f"/packages/{invoiced.number}/", **lang).content.decode()
    assert (
        'data-testid="waiting-form"' in html
        and 'data-testid="ageing"'
        in client.get(f"/locations/{package.location.code}/", **lang).content.decode()
    )


@pytest.mark.django_db
def test_the_scan_finds_english_text(client, django_user_model):
    """The check fails where it should: the English page, and a new unmarked text."""
    user, package, data = _scene(django_user_model)
    client.force_login(user)
    html = client.get(f"/packages/{package.number}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    left = untranslated_texts(html_texts(html), data)
    assert any("Package Information" in line for line in left)
    assert untranslated_texts(["Paket Bilgileri", "Ready to ship soon"], data) == [
        "'Ready to ship soon' in 'Ready to ship soon'"
    ]


# --- in a browser whose language is Turkish (Debian Chromium, Playwright) -----------------------

SHOWN_TEXTS_JS = """() => [document.title, ...document.body.innerText.split("\\n"),
  ...[...document.querySelectorAll("[title], [placeholder], [aria-label]")].flatMap(
      e => ["title", "placeholder", "aria-label"].map(a => e.getAttribute(a)).filter(Boolean))]"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (apt-get install chromium)")
@pytest.mark.django_db(transaction=True)
def test_browser_in_turkish_switches_to_english_and_keeps_the_choice(
    browser, live_server, screen, django_user_model
):
    user, package, data = _scene(django_user_model)

    def log_in(locale: str):
        context = browser.new_context(locale=locale, viewport={"width": 1366, "height": 900})
        context.set_default_timeout(10_000)
        page = context.new_page()
        page.goto(f"{live_server.url}/")
        page.fill("#id_username", "ayse")
        page.fill("#id_password", "pw")
        page.click("form.stacked button[type=submit]")
        page.wait_for_url("**/packages/movements/")
        return context, page

    context, page = log_in("tr-TR")
    assert page.locator("h1").inner_text() == "Paket Lokasyon Hareketleri"
    assert untranslated_texts(page.evaluate(SHOWN_TEXTS_JS), data) == []
    screen(page, "dashboard-tr")
    page.goto(f"{live_server.url}/packages/{package.number}/")
    page.click('[data-testid="select-action"] summary')  # the menu's action labels too
    assert untranslated_texts(page.evaluate(SHOWN_TEXTS_JS), data) == []
    assert page.locator('[data-testid="package-status"]').inner_text() == "Beklemede"
    screen(page, "package-tr")

    # The switcher: English on the same page, still logged in.
    page.click('[data-testid="language-switch"] button[value="en"]')
    page.wait_for_selector("text=Package Information")
    assert page.url.endswith(f"/packages/{package.number}/")
    assert page.locator('[data-testid="username"]').inner_text() == "ayse"
    assert page.locator('[data-testid="package-status"]').inner_text() == "Pending"
    screen(page, "package-en")
    page.click('[data-testid="language-switch"] button[value="tr"]')
    page.wait_for_selector("text=Paket Bilgileri")
    page.click(".who button")  # log out
    page.wait_for_url("**/login/**")
    context.close()

    # Another browser, in English: the stored choice (Turkish) applies once logged in.
    context, page = log_in("en-US")
    assert page.locator("h1").inner_text() == "Paket Lokasyon Hareketleri"
    context.close()
