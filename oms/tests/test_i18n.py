"""Languages: the operator's stored language and time zone, the switcher, the Turkish
catalogue, and the API that answers in English whatever Accept-Language says."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone, translation

from locations.models import OperatorAssignment
from locations.tests.factories import StockLocationFactory
from oms.api.testing import api_client
from oms.preferences.middleware import OperatorPreferenceMiddleware
from oms.preferences.models import OperatorPreference
from oms.preferences.session import SESSION_KEY
from oms.translation import untranslated
from packages.models import Status, status_dict
from packages.tests.helpers import make_package
from transfers.models import Status as TransferStatus
from transfers.models import transfer_status_dict

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "tr" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\}")


def _po():
    with open(CATALOGUE / "django.po", "rb") as f:
        return read_po(f, locale="tr")


# --- the catalogue ----------------------------------------------------------------------------


def test_catalogue_is_complete_and_keeps_every_placeholder():
    catalogue = _po()
    assert len(catalogue) > 300
    for message in catalogue:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"untranslated: {message.id!r}"
        assert "fuzzy" not in message.flags, f"fuzzy: {message.id!r}"
        for string in strings:
            assert sorted(PLACEHOLDER.findall(string)) == sorted(PLACEHOLDER.findall(ids[-1])), (
                f"placeholders differ: {message.id!r} -> {string!r}"
            )


def test_committed_mo_is_the_compiled_po():
    """A fresh clone needs no gettext: the committed django.mo says what django.po says
    (``manage.py compilemessages`` after each change of the .po)."""
    with open(CATALOGUE / "django.mo", "rb") as f:
        compiled = gettext.GNUTranslations(f)._catalog
    expected = {}
    for message in _po():
        if not message.id:
            continue
        context = f"{message.context}\x04" if message.context else ""
        if isinstance(message.id, tuple):
            for index, string in enumerate(message.string):
                expected[(context + message.id[0], index)] = string
        else:
            expected[context + message.id] = message.string
    compiled.pop("", None)
    assert compiled == expected


# --- labels the API and the events publish stay English -----------------------------------------


def test_status_labels_are_translated_on_screen_but_english_in_the_api_shapes():
    with translation.override("tr"):
        assert str(Status.PACKAGING_COMPLETED.label) == "Paketleme Tamamlandı"
        assert status_dict(Status.PACKAGING_COMPLETED) == {
            "code": 500,
            "slug": "packaging_completed",
            "label": "Packaging Completed",
        }
        assert str(TransferStatus.IN_TRANSIT.label) == "Yolda"
        assert transfer_status_dict("in_transit") == {"slug": "in_transit", "label": "In Transit"}


@pytest.mark.django_db
def test_api_answers_the_same_json_for_accept_language_tr_and_en():
    location = StockLocationFactory(code="API-LOC")
    package = make_package(Status.PENDING, location=location, number="API-0001")
    client, _token = api_client()
    detail = f"/api/v1/packages/{package.number}/"
    requests = [
        ("get", detail, None),
        ("get", "/api/v1/packages/NO-SUCH/", None),  # 404
        ("post", f"{detail}actions/ship/", {"carrier": "Correios", "tracking_number": "T1"}),  # 409
        ("post", f"{detail}actions/cancel/", {"reason": 5}),  # 400
        ("get", "/api/v1/state-machines/package/", None),
    ]
    for method, url, body in requests:
        answers = []
        for language in ("en", "tr"):
            response = getattr(client, method)(url, body, format="json", HTTP_ACCEPT_LANGUAGE=language)
            answers.append((response.status_code, response.json()))
        assert answers[0] == answers[1], url
    status, body = answers[0]
    assert status == 200
    assert {
        "code": 500,
        "slug": "packaging_completed",
        "label": "Packaging Completed",
        "is_final": False,
    } in body["states"]
    anonymous = [Client().get(detail, HTTP_ACCEPT_LANGUAGE=language) for language in ("en", "tr")]
    assert anonymous[0].status_code == anonymous[1].status_code == 401
    assert anonymous[0].json() == anonymous[1].json()


# --- the operator's language ----------------------------------------------------------------------


def _operator(username="olivia"):
    user = get_user_model().objects.create_user(username, password="pw")
    OperatorAssignment.objects.create(user=user, location=StockLocationFactory())
    return user


def _heading(response) -> str:
    return re.search(r"<h1>(.*?)</h1>", response.content.decode()).group(1)


@pytest.mark.django_db
def test_login_page_follows_the_browser_language():
    assert _heading(Client().get("/login/", HTTP_ACCEPT_LANGUAGE="tr-TR,tr;q=0.9")) == "Giriş yap"
    assert _heading(Client().get("/login/", HTTP_ACCEPT_LANGUAGE="en-US")) == "Log in"
    english = Client().get("/login/", HTTP_ACCEPT_LANGUAGE="de")
    assert _heading(english) == "Log in" and '<html lang="en">' in english.content.decode()


@pytest.mark.django_db
def test_switcher_changes_the_language_without_logging_out_and_stores_it():
    user = _operator()
    client = Client(HTTP_ACCEPT_LANGUAGE="tr")
    client.force_login(user)
    movements = reverse("packages:movements")
    assert _heading(client.get(movements)) == "Paket Lokasyon Hareketleri"

    response = client.post(reverse("set_language"), {"language": "en", "next": movements})
    assert response.status_code == 302 and response["Location"] == movements
    page = client.get(movements)
    assert page.status_code == 200 and _heading(page) == "Package Location Movements"
    assert page.wsgi_request.user == user  # still logged in
    assert OperatorPreference.objects.get(user=user).language == "en"

    client.post(reverse("set_language"), {"language": "tr", "next": movements})
    assert _heading(client.get(movements)) == "Paket Lokasyon Hareketleri"
    assert OperatorPreference.objects.get(user=user).language == "tr"


@pytest.mark.django_db
def test_stored_language_follows_the_user_to_a_new_session():
    user = _operator()
    first = Client(HTTP_ACCEPT_LANGUAGE="en")
    first.force_login(user)
    first.post(reverse("set_language"), {"language": "tr", "next": "/"})
    first.post(reverse("logout"))

    # Another browser, asking for English, without the switcher's cookie.
    second = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = second.post(reverse("login"), {"username": "olivia", "password": "pw"}, follow=True)
    assert response.wsgi_request.user == user
    assert _heading(response) == "Paket Lokasyon Hareketleri"
    assert "django_language" not in second.cookies


@pytest.mark.django_db
def test_switcher_for_an_unknown_language_stores_nothing():
    user = _operator()
    client = Client()
    client.force_login(user)
    client.post(reverse("set_language"), {"language": "xx", "next": "/"})
    assert not OperatorPreference.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_preferences_page_saves_language_and_a_valid_time_zone():
    user = _operator()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    assert client.get(reverse("preferences")).status_code == 200

    bad = client.post(reverse("preferences"), {"language": "tr", "time_zone": "Mars/Olympus"})
    assert bad.status_code == 200 and b"errors" in bad.content
    assert not OperatorPreference.objects.filter(user=user).exists()

    response = client.post(
        reverse("preferences"), {"language": "tr", "time_zone": "Europe/Istanbul"}, follow=True
    )
    assert "Tercihler kaydedildi." in response.content.decode()
    preference = OperatorPreference.objects.get(user=user)
    assert (preference.language, preference.time_zone) == ("tr", "Europe/Istanbul")
    assert client.session[SESSION_KEY] == {"language": "tr", "time_zone": "Europe/Istanbul"}

    # Blank language: the browser's again.
    client.post(reverse("preferences"), {"language": "", "time_zone": ""})
    assert _heading(client.get(reverse("packages:movements"))) == "Package Location Movements"


@pytest.mark.django_db
def test_middleware_activates_the_stored_time_zone_for_the_request_only():
    user = _operator()
    OperatorPreference.objects.create(user=user, language="tr", time_zone="America/Sao_Paulo")
    seen = {}

    def view(request):
        seen.update(zone=timezone.get_current_timezone_name(), language=translation.get_language())
        return HttpResponse()

    request = RequestFactory().get("/packages/")
    request.user = user
    request.session = {}
    OperatorPreferenceMiddleware(view)(request)
    assert seen == {"zone": "America/Sao_Paulo", "language": "tr"}
    assert request.session[SESSION_KEY] == {"language": "tr", "time_zone": "America/Sao_Paulo"}
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE

    api_request = RequestFactory().get("/api/v1/packages/")
    api_request.user = user
    api_request.session = {}
    OperatorPreferenceMiddleware(view)(api_request)
    assert seen == {"zone": settings.TIME_ZONE, "language": "en"}
    translation.activate(settings.LANGUAGE_CODE)


@pytest.mark.django_db
def test_applying_stored_preferences_costs_no_query(django_assert_num_queries):
    user = _operator()
    OperatorPreference.objects.create(user=user, language="tr")
    client = Client()
    client.force_login(user)  # copies the preference into the session
    client.get(reverse("preferences"))  # warm the session row and the user
    with django_assert_num_queries(3):  # session, user, the form's preference: none for the middleware
        client.get(reverse("preferences"))


@pytest.mark.parametrize("language", [None, "en", "en-us", "tr"])
def test_untranslated_gives_the_english_source_whatever_is_active(language):
    with translation.override(language):
        assert untranslated(Status.PENDING.label) == "Pending"
        assert untranslated("plain") == "plain"
        assert translation.get_language() == language
