"""The answer of ``POST /api/v1/packages/{number}/actions/{action}/`` is built from the package
the package engine returns (not read again): it must be exactly what ``GET`` of the package answers
right after, and a ship must cost only the statements listed below."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from oms.api.testing import api_client
from packages.models import Package, Status
from packages.tests.helpers import make_package
from packages.tests.spec import PACKAGE_ACTIONS, WHO
from packages.tests.test_api_actions import _body, _package_for, _url

pytestmark = pytest.mark.django_db

# Every (action, state) an integrator may run (the others answer 403/409 before any answer
# is built).
RUNNABLE = [(action, state) for action, (sources, _) in sorted(PACKAGE_ACTIONS.items())
            if "A" in WHO[action] for state in sorted(sources)]


@pytest.mark.parametrize("action, state", RUNNABLE)
def test_action_answer_is_the_package_as_get_reads_it_after(action, state):
    client, _ = api_client()
    package = _package_for(action, state)

    response = client.post(_url(package, action), _body(action, package), format="json")

    assert response.status_code == 200, response.json()
    detail = client.get(f"/api/v1/packages/{package.number}/")
    assert response.json() == detail.json()
    assert response["ETag"] == detail["ETag"]


def test_answer_of_a_replacement_package_names_the_package_it_replaces():
    package = make_package(Status.IN_PROGRESS, quantities=(2,), on_hand=5)
    client, _ = api_client()
    sku = package.items.get().sku.code
    reported = client.post(_url(package, "report_missing"), {"items": [{"sku": sku, "quantity": 1}]},
                           format="json").json()
    replacement = Package.objects.get(replaces=package)
    assert reported["replacement"] == replacement.number
    assert reported == client.get(f"/api/v1/packages/{package.number}/").json()

    response = client.post(_url(replacement, "start_preparing"), {}, format="json")

    assert response.status_code == 200
    assert response.json()["replaces"] == package.number
    assert response.json() == client.get(f"/api/v1/packages/{replacement.number}/").json()


def test_answer_after_refuse_carries_the_denial_reason():
    package = make_package(Status.PENDING)
    client, _ = api_client()
    body = _body("refuse", package)

    response = client.post(_url(package, "refuse"), body, format="json")

    assert response.status_code == 200
    assert response.json()["denial_reason"]["id"] == body["denial_reason_id"]
    assert response.json() == client.get(f"/api/v1/packages/{package.number}/").json()


def _statements(queries) -> list[tuple[str, str]]:
    """``("<verb> <table>", sql)`` per statement, without transaction control (BEGIN, SAVEPOINT…)."""
    out = []
    for query in queries:
        sql = query["sql"]
        verb = sql.split(None, 1)[0].upper()
        if verb in {"BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK"}:
            continue
        table = re.search(r'(?:FROM|INTO|UPDATE) "(\w+)"', sql).group(1) if verb != "SELECT" else (
            re.search(r'^SELECT "(\w+)"\.', sql) or re.search(r'FROM "(\w+)"', sql)).group(1)
        out.append((f"{verb} {table}{' FOR UPDATE' if 'FOR UPDATE' in sql else ''}", sql))
    return out


def test_a_ship_reads_and_writes_only_what_it_needs():
    first, second = make_package(Status.PACKAGING_COMPLETED), make_package(Status.PACKAGING_COMPLETED)
    client, _ = api_client()
    assert client.post(_url(first, "ship"), _body("ship", first), format="json").status_code == 200

    with CaptureQueriesContext(connection) as captured:  # its last use is stamped by now
        response = client.post(_url(second, "ship"), _body("ship", second), format="json")

    assert response.status_code == 200
    statements = _statements(captured.captured_queries)
    lock = "SELECT packages_package" + (" FOR UPDATE" if connection.features.has_select_for_update else "")
    assert [label for label, _ in statements] == [
        "SELECT oms_apitoken",                  # the token with its user (all locations)
        lock,                                   # the row by number, with brand and location
        "SELECT packages_packageitem",          # items with SKU: event payload and the answer
        "UPDATE packages_package",              # status, version, carrier, tracking number, times
        "INSERT packages_packagetransition",    # the log row
        "INSERT oms_outboxevent",               # the event
        "SELECT packages_packagetransition",    # the log for the answer
    ]
    lock_sql = statements[1][1]
    assert '"packages_brand"' in lock_sql and '"locations_stocklocation"' in lock_sql
    assert '"packages_package"."number" IN ' in lock_sql
    if connection.vendor == "postgresql":
        assert lock_sql.endswith('FOR UPDATE OF "packages_package"')


def test_if_match_answers_like_the_plain_action():
    package = make_package(Status.PACKAGING_COMPLETED)
    client, _ = api_client()

    response = client.post(_url(package, "ship"), _body("ship", package), format="json",
                           HTTP_IF_MATCH='"1"')

    assert response.status_code == 200
    assert response["ETag"] == '"2"'
    assert response.json() == client.get(f"/api/v1/packages/{package.number}/").json()
