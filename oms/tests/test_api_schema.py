"""The OpenAPI schema is the integrator's contract: read it and check what it promises.

Errors, enums, bounds, headers, auth and webhooks are checked on the generated document;
the shapes it gives to event feed items, webhook bodies, 409 and 412 answers are checked
against what the API really sends. The schemathesis run against the schema is in
``test_api_schemathesis.py``; a client generated from it in ``test_api_generated_client.py``.
"""

import json

import pytest
from django.contrib.auth import get_user_model
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.validation import validate_schema
from jsonschema import Draft202012Validator, FormatChecker
from rest_framework.test import APIClient

from locations.models import StockLevel, StockLocation
from locations.services import stock_location_save
from locations.tests.factories import SkuFactory, StockLocationFactory
from oms.api.testing import api_client
from oms.events.models import OutboxEvent
from oms.webhooks.delivery import event_type_candidates
from packages.actions import ACTIONS
from packages.models import Status
from packages.tests.factories import BrandFactory
from packages.tests.helpers import make_package
from packages.tests.spec import ALL_STATES, PACKAGE_ACTIONS, WHO
from transfers.actions import ACTIONS as TRANSFER_ACTIONS
from transfers.tests.spec import STATES as TRANSFER_STATES
from transfers.tests.spec import TRANSFER_ACTIONS as TRANSFER_SPEC

pytestmark = pytest.mark.django_db

API_ACTIONS = [name for name in ACTIONS if "A" in WHO[name]]
SYSTEM_ACTIONS = [name for name in ACTIONS if "A" not in WHO[name]]
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema() -> dict:
    """The schema as ``/api/schema/`` serves it (generated in-process, no database)."""
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _resolve(schema, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _validator(schema, component: str) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator of ``component`` (OpenAPI 3.1 schemas are JSON Schema)."""
    return Draft202012Validator({"$ref": f"#/components/schemas/{component}",
                                 "components": schema["components"]}, format_checker=FormatChecker())


def _assert_valid(schema, component: str, instance) -> None:
    errors = sorted(_validator(schema, component).iter_errors(instance), key=str)
    assert not errors, f"{component}: " + "; ".join(
        f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def _staff_client():
    user = get_user_model().objects.create_user("schema-feed", is_staff=True)
    return api_client(user=user)[0]


# --- the document --------------------------------------------------------------------------

def test_schema_is_served_without_a_token_and_is_valid_openapi_3_1():
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    served = json.loads(response.content)
    assert served["openapi"] == "3.1.0"
    validate_schema(served)  # the OpenAPI 3.1 meta-schema


def test_every_action_a_token_may_run_has_its_endpoints_and_no_other(schema):
    paths = schema["paths"]
    for action in API_ACTIONS:
        assert f"/api/v1/packages/{{number}}/actions/{action}/" in paths
        assert f"/api/v1/packages/actions/{action}/" in paths
    for action in SYSTEM_ACTIONS:  # transfers_arrived, transfer_lost: the system's own
        assert not [p for p in paths if p.endswith(f"/actions/{action}/")]
    for action in TRANSFER_ACTIONS:
        assert f"/api/v1/transfers/{{number}}/actions/{action}/" in paths
    enums = schema["components"]["schemas"]
    assert enums["PackageActionEnum"]["enum"] == API_ACTIONS
    assert enums["PackageAnyActionEnum"]["enum"] == list(ACTIONS)
    assert enums["TransferActionEnum"]["enum"] == list(TRANSFER_ACTIONS)
    assert SYSTEM_ACTIONS, "the state table has system-only actions"


def test_a_system_only_action_answers_404_and_changes_nothing():
    package = make_package(Status.PENDING_TRANSFER)
    client, _ = api_client()
    for url in (f"/api/v1/packages/{package.number}/actions/transfers_arrived/",
                "/api/v1/packages/actions/transfer_lost/"):
        response = client.post(url, {}, format="json")
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    package.refresh_from_db()
    assert (package.status, package.version) == (Status.PENDING_TRANSFER, 1)
    graph = {a["name"]: a for a in client.get("/api/v1/state-machines/package/").json()["actions"]}
    assert graph["transfers_arrived"]["path"] is None
    assert graph["ship"]["path"] == "/api/v1/packages/{number}/actions/ship/"


def test_only_served_methods_are_published(schema):
    detail = schema["paths"]["/api/v1/packages/{number}/"]
    assert set(detail) & METHODS == {"get"}  # PUT/PATCH/DELETE answer 405
    subscription = schema["paths"]["/api/v1/webhooks/subscriptions/{id}/"]
    assert set(subscription) & METHODS == {"get", "put", "patch", "delete"}


# --- errors --------------------------------------------------------------------------------

def test_every_error_status_uses_the_one_error_shape(schema):
    for path, method, operation in _operations(schema):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                body = _resolve(schema, response["content"]["application/json"]["schema"])
                assert {"code", "detail"} <= set(body["required"]), (path, method, status)
                errors = body["properties"]["errors"]
                assert errors == {**errors, "type": "object",
                                  "additionalProperties": {"type": "array", "items": {"type": "string"}}}


def test_error_statuses_are_documented_where_they_can_happen(schema):
    for path, method, operation in _operations(schema):
        statuses = set(operation["responses"])
        parameters = {p["name"] for p in operation.get("parameters", [])}
        label = f"{method.upper()} {path}"
        assert {"400", "401", "429"} <= statuses, label
        assert ("404" in statuses) == ("{" in path), label
        if method in ("post", "put", "patch"):
            assert {"403", "409", "413", "415"} <= statuses, label
        assert ("412" in statuses) == ("If-Match" in parameters), label
        assert ("422" in statuses) == ("Idempotency-Key" in parameters), label
    ship = schema["paths"]["/api/v1/packages/{number}/actions/ship/"]["post"]
    assert {"200", "400", "401", "403", "404", "409", "412", "413", "415", "422", "429"} <= set(
        ship["responses"])
    assert "403" in schema["paths"]["/api/v1/events/"]["get"]["responses"]  # staff tokens only
    assert "403" not in schema["paths"]["/api/v1/packages/"]["get"]["responses"]


def test_409_412_and_400_bodies_are_typed(schema):
    components = schema["components"]["schemas"]
    ship = schema["paths"]["/api/v1/packages/{number}/actions/ship/"]["post"]["responses"]
    assert ship["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/PackageConflictError")
    conflict = components["PackageConflictError"]["properties"]
    assert conflict["current_status"]["$ref"].endswith("/PackageStatus")
    assert conflict["allowed_actions"]["items"]["$ref"].endswith("/PackageAnyActionEnum")
    assert _resolve(schema, conflict["shortages"]["items"])["required"] == ["available", "needed", "sku"]
    dispatch = schema["paths"]["/api/v1/transfers/{number}/actions/dispatch/"]["post"]["responses"]
    assert dispatch["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/TransferConflictError")
    assert components["TransferConflictError"]["properties"]["current_status"]["$ref"].endswith(
        "/TransferStatus")
    precondition = components["PreconditionError"]
    assert "current_version" in precondition["required"]
    assert precondition["properties"]["current_version"]["type"] == "integer"
    assert ship["412"]["content"]["application/json"]["schema"]["$ref"].endswith("/PreconditionError")


def test_real_409_412_and_400_bodies_match_the_schema(schema):
    package = make_package(Status.PENDING, quantities=(3,), on_hand=3)
    client, _ = api_client()
    url = f"/api/v1/packages/{package.number}/actions/"
    conflict = client.post(url + "ship/", {"carrier": "ACME", "tracking_number": "T1"}, format="json")
    assert conflict.status_code == 409
    _assert_valid(schema, "PackageConflictError", conflict.json())
    assert conflict.json()["allowed_actions"] and conflict.json()["current_status"]["code"] == 100
    stale = client.post(url + "start_preparing/", {}, format="json", HTTP_IF_MATCH='"7"')
    assert stale.status_code == 412
    _assert_valid(schema, "PreconditionError", stale.json())
    invalid = client.post(url + "report_missing/", {"items": [{"sku": 5, "quantity": 0}]}, format="json")
    assert invalid.status_code == 400
    _assert_valid(schema, "ValidationError", invalid.json())
    assert set(invalid.json()["errors"]) == {"items.0.sku", "items.0.quantity"}


def test_package_answers_with_log_payloads_and_waiting_reasons_match_the_schema(schema):
    client, _ = api_client()
    shipped = make_package(Status.PACKAGING_COMPLETED)
    answer = client.post(f"/api/v1/packages/{shipped.number}/actions/ship/",
                         {"carrier": "ACME", "tracking_number": "T-1"}, format="json").json()
    assert answer["transitions"][-1]["payload"] == {"carrier": "ACME", "tracking_number": "T-1"}
    _assert_valid(schema, "PackageDetailOutput", answer)
    missing = make_package(Status.IN_PROGRESS, quantities=(2,), on_hand=2)
    sku = missing.items.get().sku.code
    answer = client.post(f"/api/v1/packages/{missing.number}/actions/report_missing/",
                         {"items": [{"sku": sku, "quantity": 1}]}, format="json").json()
    _assert_valid(schema, "PackageDetailOutput", answer)
    replacement = client.get(f"/api/v1/packages/{answer['replacement']}/").json()
    assert replacement["waiting_reason"]["kind"] == "out_of_stock"
    assert replacement["transitions"][0]["payload"] == {"replaces": missing.number}
    _assert_valid(schema, "PackageDetailOutput", replacement)
    refused = make_package(Status.TO_BE_RESCHEDULED)
    _assert_valid(schema, "PackageDetailOutput", client.get(f"/api/v1/packages/{refused.number}/").json())


def test_insufficient_stock_409_lists_typed_shortages(schema):
    package = make_package(Status.PRODUCT_OUT_OF_STOCK, quantities=(4,), on_hand=1)
    client, _ = api_client()
    response = client.post(f"/api/v1/packages/{package.number}/actions/reschedule/", {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    assert response.json()["shortages"][0]["needed"] == 4
    _assert_valid(schema, "PackageConflictError", response.json())


# --- enums ---------------------------------------------------------------------------------

# Properties that hold a state, an action or an event type: each must be an enum (or an
# object carrying one, such as a status).
ENUM_PROPERTIES = {"action", "allowed_actions", "enabled_actions", "disabled_actions", "status",
                   "from_status", "to_status", "current_status", "sources", "targets", "source",
                   "target", "name", "type", "status_type", "kind", "result", "delivery_type", "entity"}
FREE_TEXT = {  # component: properties named like the above that are not states or actions
    "TransferOutput": {"source"}, "TransferDetailOutput": {"source"}, "OpenTransfer": {"source"},
    "TransferEventTransfer": {"source"}, "LocationOutput": {"name"}, "BrandOutput": {"name"},
    "StockLocationEventLocation": {"name"}, "WebhookSubscription": {"name"},
    "WebhookSubscriptionRequest": {"name"}, "PatchedWebhookSubscriptionRequest": {"name"},
    "PlanningRuleOutput": {"name"}, "PlanningRuleRef": {"name"}, "PlanningRuleTried": {"name"},
}


def _is_enum(schema, node) -> bool:
    node = node.get("allOf", [node])[0] if "allOf" in node else node
    if "oneOf" in node:
        return all(_is_enum(schema, n) or n == {"type": "null"} for n in node["oneOf"])
    if node.get("type") == "array" or node.get("type") == ["array", "null"]:
        return _is_enum(schema, node["items"])
    node = _resolve(schema, node)
    return "enum" in node or node.get("type") == "object"


def test_states_actions_and_event_types_are_enums(schema):
    for name, component in schema["components"]["schemas"].items():
        for prop, node in component.get("properties", {}).items():
            if prop in ENUM_PROPERTIES and prop not in FREE_TEXT.get(name, ()):
                assert _is_enum(schema, node), f"{name}.{prop} is free text"
    parameters = schema["paths"]["/api/v1/packages/"]["get"]["parameters"]
    status_filter = {p["name"]: p for p in parameters}["status"]
    assert status_filter["explode"] is False
    assert set(status_filter["schema"]["items"]["enum"]) == {str(c) for c in ALL_STATES} | {
        s.slug for s in Status}
    transfer_status = {p["name"]: p for p in schema["paths"]["/api/v1/transfers/"]["get"]["parameters"]}
    assert set(transfer_status["status"]["schema"]["items"]["enum"]) == set(TRANSFER_STATES)


def test_waiting_reason_is_a_union_told_apart_by_kind(schema):
    components = schema["components"]["schemas"]
    reason = components["WaitingReason"]
    assert reason["discriminator"]["propertyName"] == "kind"
    assert set(reason["discriminator"]["mapping"]) == {
        "out_of_stock", "transfers", "needs_new_location", "cancellation_requested"}
    transfers = components["TransfersWaitingReason"]["properties"]["open_transfers"]
    transfers = _resolve(schema, transfers["items"])
    assert transfers["properties"]["status"]["$ref"].endswith("/TransferStatusEnum")


# --- bounds --------------------------------------------------------------------------------

def _body(schema, path):
    return schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]


def _parameter(schema, path, name, method="get"):
    return {p["name"]: p for p in schema["paths"][path][method]["parameters"]}[name]["schema"]


def test_lists_strings_and_parameters_are_bounded(schema):
    bulk = _resolve(schema, _body(schema, "/api/v1/packages/actions/ship/"))["properties"]["packages"]
    assert (bulk["minItems"], bulk["maxItems"]) == (1, 1000)
    items = _resolve(schema, _body(schema, "/api/v1/packages/"))["properties"]["items"]
    assert (items["minItems"], items["maxItems"]) == (1, 500)
    stock = _body(schema, "/api/v1/stock/")
    assert (stock["minItems"], stock["maxItems"]) == (1, 1000)
    key = _parameter(schema, "/api/v1/packages/", "Idempotency-Key", "post")
    assert (key["minLength"], key["maxLength"]) == (1, 255)
    assert (_parameter(schema, "/api/v1/packages/", "page_size")["maximum"]) == 500
    assert (_parameter(schema, "/api/v1/events/", "limit")["maximum"]) == 1000
    for name, component in schema["components"]["schemas"].items():
        if not name.endswith("Request"):
            continue
        for prop, node in component.get("properties", {}).items():
            node = node.get("items", node) if node.get("type") == "array" else node
            if node.get("type") == "string" and "format" not in node and "enum" not in node:
                assert "maxLength" in node, f"{name}.{prop} has no maxLength"
                assert "pattern" in node, f"{name}.{prop} has no pattern"


FILTERED_LISTS = ["/api/v1/packages/", "/api/v1/transfers/", "/api/v1/stock/"]


@pytest.mark.parametrize("path", FILTERED_LISTS)
def test_a_blank_filter_is_outside_the_schema_as_the_api_refuses_it(schema, path):
    # The API refuses ?sku= and ?sku=%20 (400): the schema may not call them valid.
    client, _ = api_client()
    filters = [p for p in schema["paths"][path]["get"]["parameters"]
               if p["in"] == "query" and p["name"] not in ("cursor", "page_size")]
    assert filters
    for parameter in filters:
        node = parameter["schema"]
        for blank in ("", " "):
            if node["type"] == "array":
                assert node["minItems"] >= 1, parameter["name"]
            elif node.get("format") == "date-time":
                pass  # no blank is an RFC 3339 date-time
            else:
                assert not Draft202012Validator(node).is_valid(blank), (parameter["name"], blank)
            assert client.get(path, {parameter["name"]: blank}).status_code == 400


def test_an_integral_float_is_the_integer_it_names():
    # JSON Schema counts 2.0 as the integer 2; the API does too.
    location, sku = StockLocationFactory(), SkuFactory()
    client, _ = api_client()
    response = client.post("/api/v1/stock/", [{"location": location.code, "sku": sku.code, "on_hand": 2.0}],
                           format="json")
    assert response.status_code == 200, response.json()
    assert StockLevel.objects.get(location=location, sku=sku).on_hand == 2
    response = client.post("/api/v1/stock/", [{"location": location.code, "sku": sku.code, "on_hand": 2.5}],
                           format="json")
    assert response.status_code == 400 and "0.on_hand" in response.json()["errors"]


def test_is_active_is_a_strict_boolean(schema):
    subscription = schema["components"]["schemas"]["WebhookSubscriptionRequest"]["properties"]
    assert subscription["is_active"] == {"type": "boolean"}
    client = _staff_client()
    for value in ("true", 1, "yes"):
        response = client.post("/api/v1/webhooks/subscriptions/", {
            "name": "erp", "target_url": "https://hooks.example.test/h", "event_types": ["*"],
            "is_active": value}, format="json")
        assert response.status_code == 400 and "is_active" in response.json()["errors"], value


# --- headers and auth ----------------------------------------------------------------------

def test_response_headers_are_declared(schema):
    for path, method, operation in _operations(schema):
        responses = operation["responses"]
        assert responses["401"]["headers"]["WWW-Authenticate"]["required"] is True
        assert "Retry-After" in responses["429"]["headers"]
        if any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", [])):
            success = next(code for code in responses if code.startswith("2"))
            assert "Idempotent-Replayed" in responses[success]["headers"], (method, path)
        if "201" in responses:
            assert responses["201"]["headers"]["Location"]["required"] is True, (method, path)
    for path in ("/api/v1/packages/{number}/", "/api/v1/packages/{number}/actions/ship/",
                 "/api/v1/transfers/{number}/", "/api/v1/transfers/{number}/actions/receive/"):
        operation = schema["paths"][path].get("get") or schema["paths"][path]["post"]
        assert operation["responses"]["200"]["headers"]["ETag"]["required"] is True
    created = schema["paths"]["/api/v1/packages/"]["post"]["responses"]["201"]["headers"]
    assert {"ETag", "Location", "Idempotent-Replayed"} <= set(created)


def test_the_token_is_declared_as_http_bearer(schema):
    assert schema["components"]["securitySchemes"]["tokenAuth"] == {
        **schema["components"]["securitySchemes"]["tokenAuth"], "type": "http", "scheme": "bearer"}
    for path, method, operation in _operations(schema):
        assert operation["security"] == [{"tokenAuth": []}], (method, path)


# --- events: webhooks and the feed ---------------------------------------------------------

def test_webhooks_describe_each_event_type(schema):
    webhooks = schema["webhooks"]
    expected = {
        "package.created": "PackageEvent", "package.status.transitioned": "PackageEvent",
        "transfer.status.created": "TransferEvent", "transfer.status.transitioned": "TransferEvent",
        "stock_location.created": "StockLocationEvent", "stock_location.updated": "StockLocationEvent"}
    assert set(webhooks) == set(expected)
    components = schema["components"]["schemas"]
    for event_type, component in expected.items():
        body = webhooks[event_type]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"].endswith(f"/{component}")
        meta = _resolve(schema, components[component]["properties"]["event"])
        assert event_type in _resolve(schema, meta["properties"]["type"])["enum"]
        assert {"type", "uuid", "occurred_at"} <= set(meta["required"])
    package_meta = _resolve(schema, components["PackageEvent"]["properties"]["event"])
    assert "sequence" in package_meta["required"]
    status_types = _resolve(schema, package_meta["properties"]["status_type"]["allOf"][0])["enum"]
    assert "package.status.shipped" in status_types
    transition = _resolve(schema, components["PackageEventPayload"]["properties"]["transition"])
    assert transition["properties"]["to_status"]["$ref"].endswith("/PackageStatus")


def _make_every_event(client):
    """Create two packages (one waiting for a transfer), move one and its transfer, save a
    stock location twice."""
    home, away, sku = StockLocationFactory(), StockLocationFactory(), SkuFactory()
    StockLevel.objects.create(location=away, sku=sku, on_hand=5)
    brand = BrandFactory(slug="b9").slug
    created = [client.post("/api/v1/packages/", {
        "order_number": "ORD-9", "brand": brand, "location": location.code, "delivery_type": "ship",
        "items": [{"sku": sku.code, "quantity": 1}]}, format="json").json() for location in (away, home)]
    assert client.post(f"/api/v1/packages/{created[0]['number']}/actions/start_preparing/", {},
                       format="json").status_code == 200
    transfer = created[1]["waiting_reason"]["open_transfers"][0]["number"]
    assert client.post(f"/api/v1/transfers/{transfer}/actions/ready_for_dispatch/", {},
                       format="json").status_code == 200
    stock_location_save(location=StockLocation(code="NEW-1", name="New"))
    stock_location_save(location=StockLocation.objects.get(code="NEW-1"), name="Renamed")


@pytest.mark.django_db(transaction=True)  # the feed shows committed events only
def test_feed_items_and_webhook_bodies_match_the_schema(schema):
    client = _staff_client()
    _make_every_event(client)
    events = client.get("/api/v1/events/?limit=1000").json()["events"]
    assert {e["event"]["type"] for e in events} == set(schema["webhooks"])
    _assert_valid(schema, "EventFeedPage", {"events": events, "next": "x"})
    variants = [r["$ref"].rsplit("/", 1)[1] for r in schema["components"]["schemas"]["FeedEvent"]["oneOf"]]
    for event in events:  # each item is exactly one variant of FeedEvent
        assert sum(_validator(schema, v).is_valid(event) for v in variants) == 1
    envelopes = {"package": "PackageEvent", "transfer": "TransferEvent",
                 "stock_location": "StockLocationEvent"}
    for row in OutboxEvent.objects.exclude(type="stock.level.raised"):
        body = row.envelope()
        _assert_valid(schema, envelopes[row.aggregate_type], body)
        if row.type.endswith(".status.transitioned"):
            assert body["event"]["status_type"] == event_type_candidates(row)[0]
            assert body["event"]["sequence"] == body["payload"][row.aggregate_type]["version"]


# --- the docs page and the published state machines -----------------------------------------

def test_docs_are_served_from_local_static_files():
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()


WHO_LETTER = {"operator": "O", "staff": "T", "integrator": "A", "system": "S"}


def test_package_state_machine_is_the_code_and_the_spec():
    client, _ = api_client()
    data = client.get("/api/v1/state-machines/package/").json()
    assert {s["code"] for s in data["states"]} == ALL_STATES
    actions = {a["name"]: a for a in data["actions"]}
    assert list(actions) == list(ACTIONS)
    for name, (sources, targets) in PACKAGE_ACTIONS.items():
        assert set(actions[name]["sources"]) == sources, name
        assert set(actions[name]["targets"]) == targets, name
        assert "".join(WHO_LETTER[w] for w in actions[name]["who"]) == WHO[name]
    assert actions["ship"]["conditions"] == ["is_ship_delivery"]
    assert (actions["ship"]["event"], actions["update_shipment"]["event"]) == (
        "package.status.transitioned", "package.shipment.updated")
    assert [name for name, a in actions.items() if a["releases_hold"]] == ["unblock"]
    edges = {(t["action"], t["source"], t["target"]) for t in data["transitions"]}
    assert ("ship", 500, 550) in edges and ("attach_invoice", 300, 300) in edges
    assert ("reject_cancellation", 850, 600) in edges
    assert ("block", 920, 920) in edges and ("update_invoice", 800, 800) in edges


def test_transfer_state_machine_is_the_code_and_the_spec():
    client, _ = api_client()
    data = client.get("/api/v1/state-machines/transfer/").json()
    assert {s["slug"]: s["label"] for s in data["states"]} == TRANSFER_STATES
    actions = {a["name"]: a for a in data["actions"]}
    assert list(actions) == list(TRANSFER_ACTIONS)
    for name, (sources, targets) in TRANSFER_SPEC.items():
        assert set(actions[name]["sources"]) == sources, name
        assert set(actions[name]["targets"]) == targets, name
