"""API tokens are read from the database on every request (one query with the user): a
change to a token or its user applies to the next request in every process, even when it is
made without ``save()`` (another process, ``QuerySet.update``, SQL), and ``last_used_at``
is written at most once a minute."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from locations.tests.factories import StockLocationFactory
from oms.api import tokens as api_tokens
from oms.api.models import ApiToken
from oms.api.testing import api_client
from oms.api.tokens import api_token_hash
from packages.models import Status
from packages.tests.helpers import make_package
from transfers.tests.factories import make_transfer

pytestmark = pytest.mark.django_db


def _token_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if '"oms_apitoken"' in q["sql"]]


def _update(token, **fields) -> None:
    """Change the token as another process would: no ``save()``, no signal."""
    ApiToken.objects.filter(pk=token.pk).update(**fields)


def test_a_token_revoked_without_save_is_refused_at_the_next_request():
    client, token = api_client()
    assert client.get("/api/v1/brands/").status_code == 200
    _update(token, is_active=False)
    response = client.get("/api/v1/brands/")
    assert response.status_code == 401 and response.json()["code"] == "authentication_failed"


def test_a_new_key_stops_the_old_one_at_the_next_request():
    client, token = api_client()
    assert client.get("/api/v1/brands/").status_code == 200
    _update(token, key_hash=api_token_hash("another-key"))
    assert client.get("/api/v1/brands/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Token another-key")
    assert client.get("/api/v1/brands/").status_code == 200


def test_a_user_deactivated_without_save_is_refused_at_the_next_request():
    client, token = api_client()
    assert client.get("/api/v1/brands/").status_code == 200
    get_user_model().objects.filter(pk=token.user_id).update(is_active=False)
    assert client.get("/api/v1/brands/").status_code == 401


def test_a_token_made_read_only_without_save_cannot_write_at_the_next_request():
    client, token = api_client()
    path, body = "/api/v1/packages/NOPE/actions/ship/", {"carrier": "a", "tracking_number": "b"}
    assert client.post(path, body, format="json").status_code == 404
    _update(token, is_read_only=True)
    response = client.post(path, body, format="json")
    assert response.status_code == 403 and response.json()["code"] == "read_only_token"


def test_a_scope_narrowed_without_signals_applies_at_the_next_request():
    here, there = StockLocationFactory(), StockLocationFactory()
    package = make_package(location=there)
    transfer = make_transfer()
    client, token = api_client(locations=[here, there, transfer.source])
    package_url, transfer_url = f"/api/v1/packages/{package.number}/", f"/api/v1/transfers/{transfer.number}/"
    assert client.get(package_url).status_code == 200
    assert client.get(transfer_url).status_code == 200
    ApiToken.locations.through.objects.filter(apitoken_id=token.pk).exclude(stocklocation=here).delete()
    assert client.get(package_url).status_code == 404
    assert client.get(transfer_url).status_code == 404
    _update(token, all_locations=True)
    assert client.get(package_url).status_code == 200


def test_a_request_reads_the_token_and_its_user_in_one_query():
    make_package(Status.PENDING)
    client, _ = api_client()
    assert client.get("/api/v1/brands/").status_code == 200  # stamps last_used_at
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/api/v1/packages/").status_code == 200
    token_queries = _token_queries(captured)
    assert len(token_queries) == 1 and token_queries[0].startswith("SELECT")
    assert '"auth_user"' in token_queries[0]


def test_last_use_is_written_once_a_minute_not_per_request(monkeypatch):
    client, token = api_client()
    now = timezone.now()
    monkeypatch.setattr(api_tokens.timezone, "now", lambda: now)
    with CaptureQueriesContext(connection) as captured:
        for _ in range(5):
            assert client.get("/api/v1/brands/").status_code == 200
    assert len([q for q in _token_queries(captured) if q.startswith("UPDATE")]) == 1
    token.refresh_from_db()
    assert token.last_used_at == now

    later = now + dt.timedelta(seconds=61)
    monkeypatch.setattr(api_tokens.timezone, "now", lambda: later)
    with CaptureQueriesContext(connection) as captured:
        for _ in range(3):
            assert client.get("/api/v1/brands/").status_code == 200
    assert len([q for q in _token_queries(captured) if q.startswith("UPDATE")]) == 1
    token.refresh_from_db()
    assert token.last_used_at == later
