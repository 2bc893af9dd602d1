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


# --- one error shape on every 4xx and 5xx of /api/ ----------------------------------------

def _error(response, status: int, code: str | None = None) -> dict:
    """Assert ``response`` is the API's JSON error with ``status`` (and ``code``); return it."""
    assert response.status_code == status, response.content[:300]
    body = _json(response)
    assert isinstance(body.get("code"), str) and isinstance(body.get("detail"), str), body
    if code is not None:
        assert body["code"] == code, body
    if status == 400:
        assert body["errors"] and all(isinstance(v, (list, dict)) for v in body["errors"].values()), body
    return body


ODD_VALUES = ["%", "%s", "%(value)s", "50%", "é", "²", "①", "٣", "9" * 400, "9" * 5000, "\x00", "a\x00b",
              "x" * 5000, "-1", "1e309", "0", "5.0"]
LIST_FILTERS = {
    "/api/v1/packages/": ["status", "location", "brand", "order_number", "sku", "updated_since",
                          "ship_by_before"],
    "/api/v1/transfers/": ["status", "source", "destination", "package", "updated_since"],
    "/api/v1/stock/": ["location", "sku"],
}


@pytest.mark.parametrize("url, name", [(url, name) for url, names in LIST_FILTERS.items() for name in names])
def test_odd_filter_values_answer_200_or_a_400_naming_the_filter(url, name):
    client, _ = api_client()
    client.raise_request_exception = False
    for value in ODD_VALUES:
        response = client.get(url, {name: value})
        if response.status_code != 200:
            assert name in _error(response, 400)["errors"], (value, response.content[:200])


@pytest.mark.parametrize("url, name", [(url, name) for url, names in LIST_FILTERS.items() for name in names])
@pytest.mark.parametrize("value", ["", " "])
def test_a_blank_filter_value_is_a_400_not_every_row(url, name, value):
    # A client's empty variable must not silently widen the list to every row.
    client, _ = api_client()
    assert name in _error(client.get(url, {name: value}), 400)["errors"]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


LISTS = ["/api/v1/packages/", "/api/v1/transfers/", "/api/v1/stock/", "/api/v1/locations/",
         "/api/v1/brands/", "/api/v1/denial-reasons/", "/api/v1/webhooks/subscriptions/"]


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("cursor", ["", " ", "%", "\x00", "é", "garbage", _b64("p=1") + "\n", _b64("p=1&p=2"),
                                    _b64("o=0&p=1"), _b64("r=0&p=1"), _b64("p=1&x=1"), _b64("p=abc"),
                                    _b64("p=²"), _b64("o=5"), _b64("p=1").rstrip("=") + "%"])
def test_a_cursor_not_issued_by_the_list_is_a_400_never_the_first_page(url, cursor):
    # Regression: "%", "\x00", " " and "" decoded to no position and answered the first page.
    client, _ = _staff_client_and_token()
    assert "cursor" in _error(client.get(url, {"cursor": cursor}), 400)["errors"]


@pytest.mark.parametrize("url, name", [(url, "page_size") for url in LISTS] + [("/api/v1/events/", "limit")])
def test_odd_page_sizes_answer_200_or_a_400_naming_the_parameter(url, name):
    client, _ = _staff_client_and_token()
    for value in ODD_VALUES:
        response = client.get(url, {name: value})
        if response.status_code != 200:
            assert name in _error(response, 400)["errors"], (value, response.content[:200])


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("position", ["9" * 18, "9" * 19, "9" * 5000])
def test_a_cursor_with_a_huge_position_is_an_empty_page_or_a_400(url, position):
    client, _ = _staff_client_and_token()
    cursor = base64.b64encode(f"p={position}".encode()).decode()
    response = client.get(url, {"cursor": cursor})
    if response.status_code == 200:
        assert response.json()["results"] == []
    else:
        assert "cursor" in _error(response, 400)["errors"]


@pytest.mark.parametrize("url", LISTS)
def test_the_cursors_a_list_issues_are_accepted(url):
    from oms.webhooks.models import WebhookSubscription
    from packages.tests.factories import BrandFactory, DenialReasonFactory

    for _ in range(3):
        make_package(Status.PENDING, brand=BrandFactory())
        DenialReasonFactory()
        WebhookSubscription.objects.create(name="n", target_url="https://hooks.example.test/h")
    make_transfer()
    make_transfer()
    client, _ = _staff_client_and_token()
    response = client.get(url, {"page_size": 1})
    assert response.status_code == 200
    following = response.json()["next"]
    response = client.get(following)
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == 1
    assert client.get(response.json()["previous"]).status_code == 200


@pytest.mark.parametrize("after", ["", " ", "\x00"])
def test_a_blank_event_cursor_is_a_400(after):
    # Regression: "?after=" answered 200 with no events and "next": "" (a client loops forever).
    assert "after" in _error(_staff_client().get("/api/v1/events/", {"after": after}), 400)["errors"]


@pytest.mark.parametrize("limit", [" 5", "5 ", "١٠", "+5", "0", "1001", "5.0"])
def test_an_event_limit_that_is_not_a_plain_whole_number_in_range_is_a_400(limit):
    assert "limit" in _error(_staff_client().get("/api/v1/events/", {"limit": limit}), 400)["errors"]


def test_a_400_always_carries_a_list_of_messages_per_field():
    # Regression: the feed's errors were {"after": "message"}, not {"after": ["message"]}.
    body = _error(_staff_client().get("/api/v1/events/", {"after": "garbage"}), 400)
    assert isinstance(body["errors"]["after"], list)


@pytest.mark.parametrize("url, body, fields", [
    ("/api/v1/packages/", {"order_number": "O-1", "items": [{"sku": 5, "quantity": 0}]},
     {"items.0.sku", "items.0.quantity"}),
    ("/api/v1/stock/", [{"location": "L", "sku": "S", "on_hand": 1}, {"on_hand": "x"}], {"1.on_hand"}),
    ("/api/v1/webhooks/subscriptions/", {"name": "erp", "target_url": "https://hooks.example.test/h",
                                         "event_types": ["*", 7]}, {"event_types.1"}),
])
def test_every_400_names_a_nested_field_by_its_path(url, body, fields):
    # Regression: serializer 400s kept DRF's nesting ({"items": {"0": {...}}}) while a domain
    # error's were flattened; every 400 now goes through one flattening.
    errors = _error(_staff_client_all_locations().post(url, body, format="json"), 400)["errors"]
    assert fields <= set(errors)
    assert all(isinstance(messages, list) and all(isinstance(m, str) for m in messages)
               for messages in errors.values())


def _staff_client_all_locations():
    return api_client(user=get_user_model().objects.create_user("staff-writer", is_staff=True,
                                                                is_superuser=True))[0]


# --- bodies -------------------------------------------------------------------------------

POSTS = ["/api/v1/packages/", "/api/v1/packages/actions/ship/", "/api/v1/stock/",
         "/api/v1/webhooks/subscriptions/"]


@pytest.mark.parametrize("url", POSTS)
@pytest.mark.parametrize("body", ["{", "[1,]", '{"a": NaN}', b'{"a": "\xff"}', "", "null"])
def test_a_body_that_is_not_json_is_a_400_parse_error_or_invalid(url, body):
    client, _ = _staff_client_and_token()
    response = client.post(url, body, content_type="application/json")
    assert _error(response, 400)["code"] in {"parse_error", "invalid"}


@pytest.mark.parametrize("url", POSTS)
@pytest.mark.parametrize("body", ['{"\\ud800": 1}', '[{"\\udfff": 1}]',
                                  '{"packages": [{"number": "\\ud800"}]}', '{"name": "a\\ud83d"}'])
def test_a_lone_surrogate_in_the_body_is_a_400(url, body):
    # Regression: a key holding one was echoed in "Unknown field." and the answer failed to
    # encode (500).
    client, _ = _staff_client_and_token()
    client.raise_request_exception = False
    _error(client.post(url, body, content_type="application/json"), 400, "parse_error")


def test_a_surrogate_pair_is_one_character():
    client, _ = api_client()
    response = client.post("/api/v1/packages/", '{"\\ud83d\\ude00": 1}', content_type="application/json")
    assert _error(response, 400, "invalid")["errors"]["\U0001f600"] == ["Unknown field."]


@pytest.mark.parametrize("url", POSTS)
@pytest.mark.parametrize("depth", [33, 500, 900, 950, 5000, 100_000])
def test_json_nested_deeper_than_the_limit_is_a_400(url, depth):
    client, _ = _staff_client_and_token()
    response = client.post(url, '{"a":' * depth + "1" + "}" * depth, content_type="application/json")
    assert _error(response, 400, "parse_error")["errors"]
    response = client.post(url, "[" * depth + "]" * depth, content_type="application/json")
    _error(response, 400, "parse_error")


def test_json_nested_within_the_limit_reaches_the_serializer():
    from oms.api.filters import JSON_MAX_DEPTH

    client, _ = api_client()
    inside = '{"order_number":' + "[" * (JSON_MAX_DEPTH - 1) + "]" * (JSON_MAX_DEPTH - 1) + "}"
    assert _error(client.post("/api/v1/packages/", inside, content_type="application/json"),
                  400, "invalid")["errors"]["order_number"]
    deeper = '{"order_number":' + "[" * JSON_MAX_DEPTH + "]" * JSON_MAX_DEPTH + "}"
    _error(client.post("/api/v1/packages/", deeper, content_type="application/json"), 400, "parse_error")


@pytest.mark.parametrize("url", POSTS)
def test_a_10_mb_body_is_a_json_413_naming_the_limit(url, settings):
    client, _ = _staff_client_and_token()
    response = client.post(url, json.dumps({"x": "y" * 10_000_000}), content_type="application/json")
    body = _error(response, 413, "request_too_large")
    assert body["max_bytes"] == settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class _ReadsTheBody:
    """A middleware that reads the body before any view (as a logging or signing one would)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.body  # noqa: B018
        return self.get_response(request)


def test_a_body_over_the_limit_read_by_a_middleware_is_a_json_413(settings):
    settings.MIDDLEWARE = [f"{__name__}._ReadsTheBody", *settings.MIDDLEWARE]
    client, _ = api_client()
    client.raise_request_exception = False
    response = client.post("/api/v1/packages/", json.dumps({"x": "y" * 3_000_000}),
                           content_type="application/json")
    assert _error(response, 413, "request_too_large")["max_bytes"] == settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def test_a_body_over_the_limit_outside_the_api_keeps_the_site_page(settings):
    settings.MIDDLEWARE = [f"{__name__}._ReadsTheBody", *settings.MIDDLEWARE]
    from django.test import Client

    client = Client(raise_request_exception=False)
    response = client.post("/login/", "y" * 3_000_000, content_type="text/plain")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def _largest(field):
    """The longest JSON value ``field`` accepts (lists: one entry)."""
    from rest_framework import serializers

    if isinstance(field, serializers.ListSerializer):
        return [_largest(field.child)]
    if isinstance(field, serializers.Serializer):
        return {name: _largest(child) for name, child in field.fields.items() if not child.read_only}
    if isinstance(field, serializers.ListField):
        return [_largest(field.child)] * (field.max_length or 1)
    if isinstance(field, serializers.IntegerField):
        return field.max_value if field.max_value is not None else 2**63 - 1
    if isinstance(field, (serializers.DateField, serializers.DateTimeField)):
        return "2026-11-30T12:00:00.000000+05:30"
    if isinstance(field, serializers.ChoiceField):
        return max((str(c) for c in field.choices), key=len)
    if isinstance(field, serializers.BooleanField):
        return False
    return "x" * (field.max_length or 255)


def test_the_largest_bulk_bodies_fit_under_the_body_limit(settings):
    """A bulk body of the most entries allowed, each at its longest, is not refused as too big."""
    from locations.api.serializers import STOCK_ROWS_MAX, StockSetRowInputSerializer
    from packages.api.serializers import ACTION_BULK_INPUT_SERIALIZERS, BULK_MAX

    for name, serializer in ACTION_BULK_INPUT_SERIALIZERS.items():
        entry = _largest(serializer().fields["packages"].child)
        body = json.dumps({"packages": [entry] * BULK_MAX})
        assert len(body.encode()) <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE, name
    body = json.dumps([_largest(StockSetRowInputSerializer())] * STOCK_ROWS_MAX)
    assert len(body.encode()) <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE


# --- methods, unknown paths, server errors -------------------------------------------------

def _staff_client_and_token():
    return api_client(user=get_user_model().objects.create_user(
        f"staff{get_user_model().objects.count()}", is_staff=True))


def _concrete_paths(package, transfer, subscription_id) -> list[str]:
    """Every path of the API (from the schema generator's list, excluded operations too) with
    its parameters filled in."""
    from drf_spectacular.generators import EndpointEnumerator

    values = {"number": package.number, "code": package.location.code, "slug": package.brand.slug,
              "id": str(subscription_id), "pk": str(subscription_id)}
    paths = []
    for path, _regex, _method, _callback in EndpointEnumerator().get_api_endpoints():
        if path.startswith("/api/v1/"):
            if "/transfers/{number}" in path:
                path = path.replace("{number}", transfer.number)
            for name, value in values.items():
                path = path.replace("{" + name + "}", value)
            assert "{" not in path, path
            paths.append(path)
    return sorted(set(paths))


def test_allow_lists_only_the_methods_that_work_and_the_others_are_a_json_405(fake_dns):
    # Regression: the package detail listed PUT and PATCH, which only ever refused.
    fake_dns.answers["hooks.example.test"] = ["93.184.215.14"]
    client, _ = _staff_client_and_token()
    subscription = client.post("/api/v1/webhooks/subscriptions/", {
        "name": "n", "target_url": "https://hooks.example.test/h", "event_types": ["package.*"]},
        format="json").json()
    paths = _concrete_paths(make_package(Status.PENDING), make_transfer(), subscription["id"])
    assert len(paths) > 20
    for path in paths:
        options = client.options(path)
        assert options.status_code == 200, path
        allowed = {m.strip() for m in options["Allow"].split(",")}
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            if method == "DELETE" and method in allowed:
                continue  # works (tested elsewhere); would remove the subscription the others use
            response = client.generic(method, path, "{}", content_type="application/json")
            if method in allowed:
                assert response.status_code != 405, (method, path)
            else:
                _error(response, 405, "method_not_allowed")
                assert {m.strip() for m in response["Allow"].split(",")} == allowed, (method, path)


@pytest.mark.parametrize("path", ["/api/v1/nope/", "/api/nope", "/api/v1/packages", "/api/v2/packages/",
                                  "/api/v1/brands/%C3%A9/", "/api/v1/packages/a%00b/"])
@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
def test_unknown_paths_under_the_api_are_a_json_404(path, method):
    from rest_framework.test import APIClient

    for client in (api_client()[0], APIClient()):
        _error(getattr(client, method)(path), 404, "not_found")


@pytest.mark.parametrize("path, method", [("/api/schema/", "post"), ("/api/docs/", "post"),
                                          ("/api/schema/", "delete")])
def test_errors_of_the_schema_and_docs_pages_are_json_too(path, method):
    _error(getattr(api_client()[0], method)(path), 405, "method_not_allowed")


def test_406_and_415_are_json():
    client, _ = api_client()
    _error(client.get("/api/v1/packages/", HTTP_ACCEPT="text/html"), 406, "not_acceptable")
    _error(client.post("/api/v1/packages/", "a=b", content_type="application/x-www-form-urlencoded"),
           415, "unsupported_media_type")


def test_401_and_403_are_json():
    from rest_framework.test import APIClient

    _error(APIClient().get("/api/v1/packages/"), 401, "not_authenticated")
    _error(api_client(key="nope")[0].get("/api/v1/packages/"), 401, "authentication_failed")
    _error(api_client(read_only=True)[0].post("/api/v1/packages/", {}, format="json"), 403, "read_only_token")
    _error(api_client()[0].get("/api/v1/events/"), 403, "permission_denied")


def test_too_many_query_parameters_is_a_json_400(settings):
    client, _ = api_client()
    client.raise_request_exception = False
    query = "&".join(f"p{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    _error(client.get(f"/api/v1/packages/?{query}"), 400, "bad_request")


def test_an_unknown_host_is_a_json_400_under_the_api():
    client, _ = api_client()
    client.raise_request_exception = False
    _error(client.get("/api/v1/packages/", HTTP_HOST="evil.example"), 400, "bad_request")


def test_a_crash_under_the_api_is_a_json_500_and_elsewhere_the_site_page(monkeypatch):
    import packages.api.views

    def crash():
        raise RuntimeError("boom")

    monkeypatch.setattr(packages.api.views, "package_state_machine", crash)
    client, _ = api_client()
    client.raise_request_exception = False
    body = _error(client.get("/api/v1/state-machines/package/"), 500, "server_error")
    assert "boom" not in json.dumps(body)

    from django.test import RequestFactory

    from oms.api.errors import server_error
    response = server_error(RequestFactory().get("/packages/movements/"))
    assert response.status_code == 500 and response["Content-Type"].startswith("text/html")


def test_every_boolean_integer_and_string_the_api_takes_is_strict():
    """Input serializers (``StrictInputSerializer`` and model serializers of the API) take
    booleans, integers and strings only through the strict fields (a JSON value of that type,
    nothing else: DRF's would take ``0`` or ``"no"`` as false, ``"5"`` as 5, ``12`` as "12")."""
    import importlib

    from rest_framework import serializers

    from oms.actions.inputs import StrictInputSerializer
    from oms.api.schema import StrictBooleanField, StrictCharField, StrictIntegerField

    for module in ("locations.api.serializers", "packages.api.serializers", "transfers.api.serializers",
                   "oms.webhooks.api"):
        importlib.import_module(module)
    from oms.webhooks.api import WebhookSubscriptionSerializer

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    def writable_fields(serializer, prefix):
        for name, field in serializer.fields.items():
            if field.read_only:
                continue
            if isinstance(field, serializers.ListSerializer):
                field = field.child
            if isinstance(field, serializers.ListField):
                yield f"{prefix}.{name}[]", field.child
            if isinstance(field, serializers.Serializer):
                yield from writable_fields(field, f"{prefix}.{name}")
            yield f"{prefix}.{name}", field

    inputs = [cls for cls in [*subclasses(StrictInputSerializer), *subclasses(serializers.ModelSerializer)]
              if cls.__module__.split(".")[0] in {"oms", "packages", "transfers", "locations"}]
    assert WebhookSubscriptionSerializer in inputs
    strict = {serializers.BooleanField: StrictBooleanField, serializers.CharField: StrictCharField,
              serializers.IntegerField: StrictIntegerField}
    checked, lenient = set(), []
    for cls in inputs:
        for name, field in writable_fields(cls(), cls.__name__):
            for lenient_class, strict_class in strict.items():
                if isinstance(field, lenient_class):
                    checked.add(strict_class)
                    if not isinstance(field, strict_class):
                        lenient.append(name)
    assert checked == set(strict.values()) and not lenient, lenient


# --- found by a fresh-clone trial -----------------------------------------------------------

@pytest.mark.parametrize("url", POSTS)
def test_a_key_given_twice_in_one_object_is_a_400(url):
    # Regression: the decoder kept the last value silently ({"order_number": "X", "order_number": "Y"}
    # created Y-1).
    client, _ = _staff_client_and_token()
    body = '{"order_number": "X", "items": [{"sku": "S"}], "order_number": "Y"}'
    response = client.post(url, body, content_type="application/json")
    assert "'order_number' is given twice" in _error(response, 400, "parse_error")["detail"]


@pytest.mark.parametrize("url, name, values", [
    ("/api/v1/packages/", "status", ["pending", "shipped"]),
    ("/api/v1/packages/", "sku", ["A", "A"]),
    ("/api/v1/transfers/", "source", ["A", "B"]),
    ("/api/v1/stock/", "location", ["A", "B"]),
])
def test_a_query_parameter_given_twice_is_a_400(url, name, values):
    # Regression: ?status=pending&status=shipped listed the shipped packages only.
    client, _ = api_client()
    response = client.get(url, {name: values})
    assert name in _error(response, 400, "invalid")["errors"]


def test_a_repeatable_filter_may_be_given_twice():
    client, _ = api_client()
    assert client.get("/api/v1/transfers/", {"status": ["waiting", "in_transit"]}).status_code == 200


def test_a_chunked_body_is_a_411_not_an_empty_body():
    # Regression: Django reads a body up to Content-Length only: a chunked bulk request was
    # answered "packages: This field is required.".
    client, _ = api_client()
    response = client.generic("POST", "/api/v1/packages/actions/start_preparing/", b"",
                              content_type="application/json", HTTP_TRANSFER_ENCODING="chunked",
                              CONTENT_LENGTH="")
    assert _error(response, 411, "length_required")


def test_too_many_form_fields_outside_the_api_is_the_sites_400_page(settings):
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.create_user("olivia"))
    fields = {f"p{i}": "1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    response = client.post("/packages/actions/", fields)
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
    assert "<h1>Bad request</h1>" in response.content.decode()
