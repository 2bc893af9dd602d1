"""API tokens: authentication, scope, read-only, the management command and the admin."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from locations.tests.factories import StockLocationFactory
from oms.actions.errors import InvalidInput
from oms.api.models import ApiToken
from oms.api.testing import api_client
from oms.api.tokens import api_token_create, api_token_hash

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("header", [None, "Token", "Token a b", "Token nope", "Bearer x", "Bearer",
                                    "Token caf\u00e9", "Basic eDp5"])
def test_requests_without_a_valid_token_are_401(header):
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/packages/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["code"] in {"not_authenticated", "authentication_failed"}


@pytest.mark.parametrize("scheme", ["Bearer", "Token", "bearer", "TOKEN"])
def test_the_key_is_accepted_after_bearer_or_token(scheme):
    # The schema publishes HTTP bearer (what generated clients send); "Token" keeps working.
    key = api_client()[0].api_key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
    assert client.get("/api/v1/packages/").status_code == 200


def test_revoked_token_and_inactive_user_are_401():
    client, token = api_client()
    assert client.get("/api/v1/packages/").status_code == 200
    token.is_active = False
    token.save()
    assert client.get("/api/v1/packages/").status_code == 401
    other, token = api_client()
    token.user.is_active = False
    token.user.save()
    assert other.get("/api/v1/packages/").status_code == 401


def test_session_login_alone_does_not_open_the_api(admin_client):
    assert admin_client.get("/api/v1/packages/").status_code == 401


def test_only_the_hash_is_stored_and_last_use_is_stamped():
    client, token = api_client()
    assert token.key_hash == api_token_hash(client.api_key) and client.api_key not in token.key_hash
    assert token.key_prefix == client.api_key[:8]
    assert token.last_used_at is None
    client.get("/api/v1/brands/")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_create_api_token_command_prints_the_key():
    get_user_model().objects.create_user("erp")
    a, b = StockLocationFactory(code="A1"), StockLocationFactory(code="B1")
    out = io.StringIO()
    call_command("create_api_token", "erp", "--locations", "A1,B1", "--read-only", stdout=out,
                 stderr=io.StringIO())
    key = out.getvalue().strip()
    token = ApiToken.objects.get(key_hash=api_token_hash(key))
    assert token.is_read_only and not token.all_locations
    assert set(token.locations.all()) == {a, b}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/locations/").status_code == 200
    out = io.StringIO()
    call_command("create_api_token", "erp", stdout=out, stderr=io.StringIO())
    token = ApiToken.objects.get(key_hash=api_token_hash(out.getvalue().strip()))
    assert token.all_locations and not token.is_read_only


def test_create_api_token_command_errors():
    with pytest.raises(CommandError, match="No user"):
        call_command("create_api_token", "ghost", stdout=io.StringIO(), stderr=io.StringIO())
    get_user_model().objects.create_user("erp")
    with pytest.raises(CommandError, match="Unknown stock location"):
        call_command("create_api_token", "erp", "--locations", "NOPE", stdout=io.StringIO(),
                     stderr=io.StringIO())


def test_api_token_create_validates():
    user = get_user_model().objects.create_user("u")
    with pytest.raises(InvalidInput):
        api_token_create(user=user, name=" ")
    with pytest.raises(InvalidInput):
        api_token_create(user=user, name="x", location_codes=[" "])


def test_admin_creates_a_token_and_shows_the_key_once(admin_client):
    user = get_user_model().objects.create_user("shop")
    location = StockLocationFactory()
    response = admin_client.post("/admin/oms/apitoken/add/", {
        "name": "Shop app", "user": user.pk, "locations": [location.pk], "is_active": "on",
    }, follow=True)
    assert response.status_code == 200
    token = ApiToken.objects.get(name="Shop app")
    message = next(str(m) for m in response.context["messages"] if "API key" in str(m))
    key = message.rsplit(" ", 1)[-1]
    assert api_token_hash(key) == token.key_hash
    assert list(token.locations.all()) == [location]
    assert admin_client.get(f"/admin/oms/apitoken/{token.pk}/change/").status_code == 200
    assert admin_client.get("/admin/oms/idempotencyrecord/").status_code == 200
    response = admin_client.post("/admin/oms/apitoken/", {
        "action": "issue_new_key", "_selected_action": [token.pk]}, follow=True)
    token.refresh_from_db()
    assert api_token_hash(key) != token.key_hash
