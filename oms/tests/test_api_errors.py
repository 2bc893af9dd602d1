"""Bad input to the API answers a JSON 4xx naming the problem, never a 500 or an HTML page."""

import base64
import json

import pytest
from django.contrib.auth import get_user_model

from oms.api.testing import api_client

pytestmark = pytest.mark.django_db


def _json(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return response.json()


@pytest.mark.parametrize("value", ["%", "%s", "%(value)s", "50%"])
def test_a_filter_value_with_a_percent_sign_is_a_400(value):
    client, _ = api_client()
    response = client.get("/api/v1/packages/", {"status": value})
    assert response.status_code == 400
    assert value in _json(response)["errors"]["status"][0]


def test_json_nested_too_deep_is_a_400():
    client, _ = api_client()
    response = client.post("/api/v1/packages/", "[" * 950 + "]" * 950, content_type="application/json")
    assert response.status_code == 400
    assert _json(response)["code"] == "parse_error"


def test_a_body_over_the_limit_is_a_json_413(settings):
    client, _ = api_client()
    body = json.dumps({"order_number": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    response = client.post("/api/v1/packages/", body, content_type="application/json")
    assert response.status_code == 413
    assert _json(response)["code"] == "request_too_large"


def _staff_client():
    client, _ = api_client(user=get_user_model().objects.create_user("feed-reader", is_staff=True))
    return client


@pytest.mark.parametrize("after", ["garbage", base64.urlsafe_b64encode(b"1.2").decode().rstrip("="),
                                   base64.urlsafe_b64encode(b"-5.-7").decode()])
def test_an_event_cursor_not_issued_by_the_feed_is_a_400(after):
    response = _staff_client().get("/api/v1/events/", {"after": after})
    assert response.status_code == 400
    assert "after" in _json(response)["errors"]
