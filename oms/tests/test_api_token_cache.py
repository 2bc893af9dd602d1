"""The per-process cache of authenticated API tokens (``oms.api.tokens``): no token query per
request, changes saved in this process take effect at once, others within the TTL, and
``last_used_at`` is written at most once a minute."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from locations.tests.factories import StockLocationFactory
from oms.api import tokens as api_tokens
from oms.api.models import ApiToken
from oms.api.testing import api_client
from oms.api.tokens import api_token_for_key
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db


def _token_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if '"oms_apitoken"' in q["sql"]]


@pytest.fixture
def clock(monkeypatch):
    """Move ``time.monotonic`` (the cache's expiry clock) forward with ``clock.advance(s)``."""

    class Clock:
        offset = 0.0

        def advance(self, seconds: float) -> None:
            self.offset += seconds

    clock, real = Clock(), api_tokens.time.monotonic
    monkeypatch.setattr(api_tokens.time, "monotonic", lambda: real() + clock.offset)
    return clock


def test_a_remembered_token_costs_no_query():
    client, _ = api_client()
    assert client.get("/api/v1/brands/").status_code == 200

    with CaptureQueriesContext(connection) as captured:
        assert client.get("/api/v1/brands/").status_code == 200

    assert _token_queries(captured) == []


def test_each_request_gets_its_own_copy_of_the_token_and_user():
    client, token = api_client()
    key = client.api_key
    first, second = api_token_for_key(key), api_token_for_key(key)
    assert first == second == token
    assert first is not second and first.user is not second.user
    first.is_read_only = True
    first.user.username = "changed"
    third = api_token_for_key(key)
    assert not third.is_read_only and third.user.username == token.user.username


def test_revocation_saved_here_is_immediate(settings):
    settings.API_TOKEN_CACHE_SECONDS = 3600
    client, token = api_client()
    assert client.get("/api/v1/brands/").status_code == 200
    token.is_active = False
    token.save(update_fields=["is_active"])
    assert client.get("/api/v1/brands/").status_code == 401


def test_a_change_without_signals_takes_effect_when_the_ttl_runs_out(settings, clock):
    settings.API_TOKEN_CACHE_SECONDS = 30
    client, token = api_client()
    assert client.get("/api/v1/brands/").status_code == 200
    # Another process revoked it (no signal reaches this one): a queryset update.
    ApiToken.objects.filter(pk=token.pk).update(is_active=False)
    clock.advance(29)
    assert client.get("/api/v1/brands/").status_code == 200
    clock.advance(2)
    assert client.get("/api/v1/brands/").status_code == 401


def test_read_only_set_elsewhere_applies_after_the_ttl(settings, clock):
    settings.API_TOKEN_CACHE_SECONDS = 30
    package_path = "/api/v1/packages/NOPE/actions/ship/"
    client, token = api_client()
    body = {"carrier": "a", "tracking_number": "b"}
    assert client.post(package_path, body, format="json").status_code == 404
    ApiToken.objects.filter(pk=token.pk).update(is_read_only=True)
    clock.advance(31)
    response = client.post(package_path, body, format="json")
    assert response.status_code == 403 and response.json()["code"] == "read_only_token"


def test_zero_seconds_turns_the_cache_off(settings):
    settings.API_TOKEN_CACHE_SECONDS = 0
    client, token = api_client()
    assert client.get("/api/v1/brands/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(is_active=False)
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/api/v1/brands/").status_code == 401
    assert len(_token_queries(captured)) == 1


def test_deactivating_the_user_elsewhere_applies_after_the_ttl(settings, clock):
    settings.API_TOKEN_CACHE_SECONDS = 30
    client, token = api_client()
    assert client.get("/api/v1/brands/").status_code == 200
    type(token.user).objects.filter(pk=token.user_id).update(is_active=False)
    assert client.get("/api/v1/brands/").status_code == 200
    clock.advance(31)
    assert client.get("/api/v1/brands/").status_code == 401


def test_last_use_is_written_once_a_minute_not_per_request(monkeypatch, settings, clock):
    settings.API_TOKEN_CACHE_SECONDS = 30
    client, token = api_client()
    now = timezone.now()
    monkeypatch.setattr(api_tokens.timezone, "now", lambda: now)

    with CaptureQueriesContext(connection) as captured:
        for _ in range(5):
            assert client.get("/api/v1/brands/").status_code == 200
    updates = [q for q in _token_queries(captured) if q.startswith("UPDATE")]
    assert len(updates) == 1
    token.refresh_from_db()
    assert token.last_used_at == now

    later = now + dt.timedelta(seconds=61)
    monkeypatch.setattr(api_tokens.timezone, "now", lambda: later)
    clock.advance(31)  # re-read: the stamp read back is this process's own
    with CaptureQueriesContext(connection) as captured:
        for _ in range(3):
            assert client.get("/api/v1/brands/").status_code == 200
    assert len([q for q in _token_queries(captured) if q.startswith("UPDATE")]) == 1
    token.refresh_from_db()
    assert token.last_used_at == later


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(api_tokens, "_CACHE_MAX_TOKENS", 3)
    clients = [api_client()[0] for _ in range(5)]
    for client in clients:
        assert client.get("/api/v1/brands/").status_code == 200
    assert 1 <= len(api_tokens._cache) <= 3


def test_unknown_keys_are_not_remembered():
    client, _ = api_client()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-key")
    before = len(api_tokens._cache)
    assert client.get("/api/v1/brands/").status_code == 401
    assert len(api_tokens._cache) == before


def test_a_remembered_token_carries_its_stock_locations_and_a_scope_change_applies_at_once():
    here, there = StockLocationFactory(), StockLocationFactory()
    package = make_package(location=there)
    client, token = api_client(locations=[here, there])
    url = f"/api/v1/packages/{package.number}/"
    assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    assert not [q for q in captured.captured_queries if "oms_apitoken_locations" in q["sql"]]
    token.locations.remove(there)  # in this process: the cache forgets the token
    assert client.get(url).status_code == 404
