"""Login throttling (django-axes): after LOGIN_FAILURE_LIMIT failed logins a user is locked
out from that address, even with the right password, on the operator and the admin login."""

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from django.utils import timezone

from oms.api.testing import api_client
from oms.api.throttling import client_address

pytestmark = pytest.mark.django_db

LOGIN_PAGES = ["/login/", "/admin/login/"]
PASSWORD = "right-horse-battery"


@pytest.fixture
def staff_user():
    return get_user_model().objects.create_user("olivia", password=PASSWORD, is_staff=True)


def _login(client: Client, path: str, password: str, username: str = "olivia", **extra):
    return client.post(path, {"username": username, "password": password}, **extra)


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _fail(client: Client, path: str, times: int, **extra) -> None:
    """Send ``times`` wrong passwords; the limit-th one already answers the lockout page."""
    for n in range(1, times + 1):
        response = _login(client, path, "wrong", **extra)
        # the form again with its error, until the failure that reaches the limit
        assert response.status_code == (429 if n >= settings.AXES_FAILURE_LIMIT else 200)
        assert not _logged_in(client)


@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_the_sixth_login_is_refused_even_with_the_right_password(client, staff_user, path):
    assert settings.AXES_FAILURE_LIMIT == 5
    _fail(client, path, 5)

    response = _login(client, path, PASSWORD)

    assert response.status_code == 429
    assert not _logged_in(client)
    page = response.content.decode()
    assert "Too many failed logins" in page and "OMS back-office" in page  # the site's page
    assert "olivia" in page and "15 minutes" in page


@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_fewer_failures_than_the_limit_let_the_right_password_in(client, staff_user, path):
    _fail(client, path, 4)
    response = _login(client, path, PASSWORD)
    assert response.status_code == 302 and _logged_in(client)


def test_a_successful_login_starts_the_count_again(client, staff_user):
    _fail(client, "/login/", 4)
    assert _login(client, "/login/", PASSWORD).status_code == 302
    client.logout()
    _fail(client, "/login/", 4)
    assert _login(client, "/login/", PASSWORD).status_code == 302


def test_the_lockout_is_per_user_and_address(staff_user):
    get_user_model().objects.create_user("bruno", password=PASSWORD)
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    _fail(attacker, "/login/", 5)
    assert _login(attacker, "/login/", PASSWORD).status_code == 429

    elsewhere = Client(REMOTE_ADDR="198.51.100.2")
    assert _login(elsewhere, "/login/", PASSWORD).status_code == 302
    other_user = Client(REMOTE_ADDR="203.0.113.7")
    assert _login(other_user, "/login/", PASSWORD, username="bruno").status_code == 302


def test_a_forged_forwarded_for_does_not_escape_the_lockout(client, staff_user):
    """Without trusted proxies, X-Forwarded-For is the client's own text: ignored."""
    for n in range(5):
        _login(client, "/login/", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    response = _login(client, "/login/", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert response.status_code == 429


def test_the_lockout_ends_after_the_cool_off(client, staff_user):
    _fail(client, "/login/", 5)
    assert _login(client, "/login/", PASSWORD).status_code == 429
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=1))
    assert _login(client, "/login/", PASSWORD).status_code == 302


def test_a_locked_out_user_keeps_the_api(client, staff_user):
    api, _token = api_client(user=staff_user)
    _fail(client, "/login/", 5)
    assert _login(client, "/login/", PASSWORD).status_code == 429
    assert api.get("/api/v1/packages/").status_code == 200


def test_the_client_address_is_the_connection_unless_proxies_are_trusted(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5",
                                   HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.9")
    assert client_address(request) == "10.0.0.5"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    assert client_address(request) == "203.0.113.9"  # what the one trusted proxy saw
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 2}
    assert client_address(request) == "192.0.2.1"
