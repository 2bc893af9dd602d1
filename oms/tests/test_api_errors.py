"""Bad input to the API answers a JSON 4xx naming the problem, never a 500 or an HTML page."""

import base64
import json

import pytest
from django.contrib.auth import get_user_model

from oms.api.testing import api_client
from packages.models import Status
from packages.tests.helpers import make_package
from transfers.tests.factories import make_transfer

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


@pytest.mark.parametrize("value", ["²", "¹,100", "①"])
def test_a_status_filter_with_a_non_ascii_digit_is_a_400(value):
    # Regression: "²".isdigit() is True but int("²") raises (500).
    client, _ = api_client()
    response = client.get("/api/v1/packages/", {"status": value})
    assert response.status_code == 400
    assert "status" in _json(response)["errors"]


@pytest.mark.parametrize("tag", ['"²"', "²", '"①"', '"٣"', '"1', '1"'])
def test_an_if_match_that_is_no_version_is_a_412_and_nothing_changes(tag):
    # Regression: a non-ASCII digit in If-Match answered a 500; "٣" was taken as 3.
    package = make_package(Status.PENDING)
    client, _ = api_client()
    response = client.post(f"/api/v1/packages/{package.number}/actions/start_preparing/", {},
                           format="json", HTTP_IF_MATCH=tag)
    assert response.status_code == 412
    assert _json(response)["code"] == "version_mismatch"
    package.refresh_from_db()
    assert (package.status, package.version) == (Status.PENDING, 1)


def test_an_if_match_with_a_non_ascii_digit_on_a_transfer_action_is_a_412():
    transfer = make_transfer()
    client, _ = api_client()
    response = client.post(f"/api/v1/transfers/{transfer.number}/actions/ready_for_dispatch/", {},
                           format="json", HTTP_IF_MATCH='"²"')
    assert response.status_code == 412
    assert _json(response)["code"] == "version_mismatch"
