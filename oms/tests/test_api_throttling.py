"""API rate limits: per token, per address without a valid token; 429 ``throttled`` with
Retry-After; a failing cache lets requests through; the cache the settings choose."""

import json
import logging
import os
import socket
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.test import APIClient

from oms.api import throttling
from oms.api.testing import api_client
from packages.models import Status
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db

ROOT = django_settings.BASE_DIR


@pytest.fixture(autouse=True)
def cache_up(monkeypatch):
    """Each test starts with the cache taken as working in this process."""
    monkeypatch.setattr(throttling, "_cache_down_until", 0.0)


def _assert_throttled(response):
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "throttled"
    assert body["detail"]
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= 60
    assert body["retry_after_seconds"] == retry_after


def test_a_token_over_its_rate_gets_429_and_other_tokens_do_not(settings):
    settings.API_THROTTLE_RATE = "3/minute"
    client, _token = api_client()
    other, _ = api_client()
    for _ in range(3):
        assert client.get("/api/v1/brands/").status_code == 200
    _assert_throttled(client.get("/api/v1/brands/"))
    _assert_throttled(client.post("/api/v1/packages/", {}, format="json"))  # writes count too
    assert other.get("/api/v1/brands/").status_code == 200


def test_the_token_rate_can_be_turned_off(settings):
    settings.API_THROTTLE_RATE = None
    client, _token = api_client()
    for _ in range(5):
        assert client.get("/api/v1/brands/").status_code == 200


@pytest.mark.parametrize("header", [None, "Token nope", "Token a b", "Token caf\u00e9"])
def test_requests_without_a_valid_token_are_limited_per_address(settings, header):
    settings.API_UNAUTHENTICATED_THROTTLE_RATE = "2/minute"
    guesser = APIClient(REMOTE_ADDR="203.0.113.7")
    if header is not None:
        guesser.credentials(HTTP_AUTHORIZATION=header)
    for _ in range(2):
        assert guesser.get("/api/v1/packages/").status_code == 401
    _assert_throttled(guesser.get("/api/v1/packages/"))
    # another address still gets its 401s; a valid token from the same address is not held up
    assert APIClient(REMOTE_ADDR="198.51.100.2").get("/api/v1/packages/").status_code == 401
    client, _token = api_client()
    client.defaults["REMOTE_ADDR"] = "203.0.113.7"
    assert client.get("/api/v1/packages/").status_code == 200


def test_valid_tokens_do_not_count_against_the_address(settings):
    settings.API_UNAUTHENTICATED_THROTTLE_RATE = "1/minute"
    client, _token = api_client()
    for _ in range(3):
        assert client.get("/api/v1/brands/").status_code == 200
    assert APIClient().get("/api/v1/brands/").status_code == 401


class BrokenCache(LocMemCache):
    """A cache whose every call fails, as a Redis that is down; counts the calls."""

    calls = 0

    def _fail(self, *args, **kwargs):
        type(self).calls += 1
        raise ConnectionError("cache down")

    get = set = add = incr = get_many = _fail


@pytest.fixture
def broken_cache(settings):
    BrokenCache.calls = 0
    settings.CACHES = {"default": {"BACKEND": f"{__name__}.BrokenCache"}}
    return BrokenCache


def test_a_failing_cache_lets_requests_through_and_is_left_alone_a_while(
        settings, broken_cache, caplog, monkeypatch):
    settings.API_THROTTLE_RATE = "1/minute"
    client, _token = api_client()
    with caplog.at_level(logging.WARNING, logger="oms.api.throttling"):
        for _ in range(3):
            assert client.get("/api/v1/brands/").status_code == 200
    assert broken_cache.calls == 1  # then the process stopped asking it
    assert "rate limit not applied" in caplog.text

    monkeypatch.setattr(throttling, "_cache_down_until", 0.0)  # the pause is over
    assert client.get("/api/v1/brands/").status_code == 200
    assert broken_cache.calls == 2


def test_a_failing_cache_does_not_turn_a_401_into_an_error(settings, broken_cache):
    response = APIClient().get("/api/v1/packages/", HTTP_AUTHORIZATION="Token nope")
    assert response.status_code == 401
    assert broken_cache.calls == 1


def test_a_redis_that_refuses_connections_fails_open(settings):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{port}/0",
        "OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}}}
    settings.API_THROTTLE_RATE = "1/minute"
    client, _token = api_client()
    assert client.get("/api/v1/brands/").status_code == 200
    assert client.get("/api/v1/brands/").status_code == 200


def test_the_schema_documents_429_with_retry_after():
    schema = APIClient().get("/api/schema/?format=json").json()
    response = schema["paths"]["/api/v1/brands/"]["get"]["responses"]["429"]
    assert "Retry-After" in response["headers"]
    assert "retry_after_seconds" in str(schema["components"]["schemas"])


# --- settings (fresh processes: the environment is read at import) -----------------------------

def _settings_of(tmp_path, **env) -> dict:
    code = ("import json, django; django.setup(); from django.conf import settings as s; "
            "print(json.dumps({'cache': s.CACHES['default'], 'token': s.API_THROTTLE_RATE, "
            "'anon': s.API_UNAUTHENTICATED_THROTTLE_RATE, "
            "'proxies': s.REST_FRAMEWORK['NUM_PROXIES']}))")
    base = {key: value for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "CACHE_", "API_",
                                   "OMS_"))}
    base.update({"DJANGO_SETTINGS_MODULE": "oms.config.settings", "DJANGO_DEBUG": "true",
                 "OMS_VAR_DIR": str(tmp_path), **env})
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env=base, timeout=60)
    if result.returncode:
        return {"error": result.stderr}
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_settings_choose_redis_with_short_timeouts_else_files_in_var(tmp_path):
    local = _settings_of(tmp_path)
    assert local["cache"]["BACKEND"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert local["cache"]["LOCATION"] == str(tmp_path / "cache")
    assert (local["token"], local["anon"], local["proxies"]) == ("1200/minute", "60/minute", 0)

    redis = _settings_of(tmp_path, REDIS_URL="redis://127.0.0.1:6379/3", CACHE_SOCKET_TIMEOUT_SECONDS="0.1")
    assert redis["cache"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert redis["cache"]["LOCATION"] == "redis://127.0.0.1:6379/3"
    assert redis["cache"]["KEY_PREFIX"] == "oms"
    assert redis["cache"]["OPTIONS"] == {"socket_timeout": 0.1, "socket_connect_timeout": 0.1}

    own = _settings_of(tmp_path, REDIS_URL="redis://127.0.0.1:6379/3", CACHE_URL="redis://127.0.0.1:6379/4")
    assert own["cache"]["LOCATION"] == "redis://127.0.0.1:6379/4"


def test_settings_read_rates_and_refuse_a_malformed_one(tmp_path):
    chosen = _settings_of(tmp_path, API_THROTTLE_RATE="off", API_UNAUTHENTICATED_THROTTLE_RATE="10/s",
                          OMS_TRUSTED_PROXY_COUNT="1")
    assert (chosen["token"], chosen["anon"], chosen["proxies"]) == (None, "10/s", 1)
    bad = _settings_of(tmp_path, API_THROTTLE_RATE="lots")
    assert "API_THROTTLE_RATE='lots'" in bad["error"]


def test_a_throttled_post_is_not_stored_for_its_idempotency_key(settings):
    """The retry after Retry-After acts: the 429 came before the action and its key."""
    package = make_package(Status.PACKAGING_COMPLETED)
    settings.API_THROTTLE_RATE = "1/minute"
    client, _token = api_client()
    assert client.get("/api/v1/brands/").status_code == 200
    path = f"/api/v1/packages/{package.number}/actions/ship/"
    body = {"carrier": "ACME", "tracking_number": "TRK1"}
    _assert_throttled(client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="k1"))
    package.refresh_from_db()
    assert package.status == Status.PACKAGING_COMPLETED

    cache.clear()  # the minute has passed
    response = client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 200 and "Idempotent-Replayed" not in response
    package.refresh_from_db()
    assert package.status == Status.SHIPPED
