"""The OpenAPI schema, the docs page and the published state machines.

The schemathesis run against the schema is in ``test_api_schemathesis.py``.
"""

import json

import pytest
from rest_framework.test import APIClient

from oms.api.testing import api_client
from packages.actions import ACTIONS
from packages.tests.spec import ALL_STATES, PACKAGE_ACTIONS, WHO
from transfers.actions import ACTIONS as TRANSFER_ACTIONS
from transfers.tests.spec import STATES as TRANSFER_STATES
from transfers.tests.spec import TRANSFER_ACTIONS as TRANSFER_SPEC

pytestmark = pytest.mark.django_db


def test_schema_is_served_without_a_token_and_lists_every_action():
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for action in ACTIONS:
        assert f"/api/v1/packages/{{number}}/actions/{action}/" in paths
        assert f"/api/v1/packages/actions/{action}/" in paths
    for action in TRANSFER_ACTIONS:
        assert f"/api/v1/transfers/{{number}}/actions/{action}/" in paths
    ship = paths["/api/v1/packages/{number}/actions/ship/"]["post"]
    assert {"200", "400", "401", "403", "404", "409", "412", "422"} <= set(ship["responses"])
    assert {p["name"] for p in ship["parameters"]} >= {"Idempotency-Key", "If-Match", "number"}
    assert schema["components"]["securitySchemes"]["tokenAuth"]["name"] == "Authorization"


def test_docs_are_served_from_local_static_files():
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()


def test_package_state_machine_is_the_code_and_the_spec():
    client, _ = api_client()
    data = client.get("/api/v1/state-machines/package/").json()
    assert {s["code"] for s in data["states"]} == ALL_STATES
    actions = {a["name"]: a for a in data["actions"]}
    assert list(actions) == list(ACTIONS)
    for name, (sources, targets) in PACKAGE_ACTIONS.items():
        assert set(actions[name]["sources"]) == sources, name
        assert set(actions[name]["targets"]) == targets, name
        assert "".join(w[0].upper() for w in actions[name]["who"]).replace("I", "A") == WHO[name]
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
