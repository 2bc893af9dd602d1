"""API: transfers list/detail, every transfer action from every state, scope."""

import pytest

from locations.tests.factories import StockLocationFactory
from oms.api.testing import api_client
from oms.events.models import OutboxEvent
from packages.models import Package, PackageTransition
from packages.models import Status as PackageStatus
from packages.tests.helpers import make_package, stock_snapshot
from transfers.models import Transfer, TransferTransition
from transfers.tests.factories import make_transfer
from transfers.tests.spec import SIDE, STATES, TRANSFER_ACTIONS

pytestmark = pytest.mark.django_db


def _isolated_package():
    return make_package(PackageStatus.PENDING_CANCELLATION, quantities=(),
                        status_before_cancellation=PackageStatus.PENDING_TRANSFER)


def _written():
    return (TransferTransition.objects.count(), PackageTransition.objects.count(),
            OutboxEvent.objects.count(), stock_snapshot(),
            list(Transfer.objects.order_by("pk").values()),
            list(Package.objects.order_by("pk").values()))


@pytest.mark.parametrize("action", sorted(TRANSFER_ACTIONS))
@pytest.mark.parametrize("state", sorted(STATES))
def test_every_action_from_every_state(action, state):
    transfer = make_transfer(state, package=_isolated_package(), quantities=(2, 1))
    sources, targets = TRANSFER_ACTIONS[action]
    client, _ = api_client()
    before = _written()
    response = client.post(f"/api/v1/transfers/{transfer.number}/actions/{action}/", {}, format="json")
    if state not in sources:
        assert response.status_code == 409, response.json()
        data = response.json()
        assert data["code"] == "transition_not_allowed"
        assert data["current_status"] == {"slug": state, "label": STATES[state]}
        assert action not in data["allowed_actions"]
        assert _written() == before
        return
    assert response.status_code == 200, response.json()
    transfer.refresh_from_db()
    assert transfer.status in targets
    assert response.json()["status"]["slug"] == transfer.status
    assert response.json()["version"] == 2 and response["ETag"] == '"2"'
    assert response.json()["transitions"][-1]["action"] == action


def test_list_detail_and_scope_by_source_or_destination():
    transfer = make_transfer("waiting", package=_isolated_package())
    by_source, _ = api_client(locations=[transfer.source])
    by_destination, _ = api_client(locations=[transfer.destination])
    outsider, _ = api_client(locations=[StockLocationFactory()])
    for client, allowed in ((by_source, ["ready_for_dispatch", "dispatch", "cancel"]), (by_destination, [])):
        results = client.get("/api/v1/transfers/").json()["results"]
        assert [t["number"] for t in results] == [transfer.number]
        assert results[0]["allowed_actions"] == allowed
        detail = client.get(f"/api/v1/transfers/{transfer.number}/").json()
        assert detail["package"] == transfer.package.number
        assert detail["allowed_actions"] == allowed
    assert outsider.get("/api/v1/transfers/").json()["results"] == []
    assert outsider.get(f"/api/v1/transfers/{transfer.number}/").status_code == 404
    response = outsider.post(f"/api/v1/transfers/{transfer.number}/actions/cancel/", {}, format="json")
    assert response.status_code == 404
    assert Transfer.objects.get(pk=transfer.pk).status == "waiting"


@pytest.mark.parametrize("action", sorted(name for name, side in SIDE.items() if side == "source"))
def test_destination_token_cannot_run_the_source_side_actions(action):
    """The source prepares, dispatches and cancels: a token of the destination only gets 404
    and moves no stock; a token of the source runs it."""
    state = sorted(TRANSFER_ACTIONS[action][0])[0]
    transfer = make_transfer(state, package=_isolated_package(), quantities=(2, 1))
    by_destination, _ = api_client(locations=[transfer.destination])
    by_source, _ = api_client(locations=[transfer.source])
    assert action not in by_destination.get(f"/api/v1/transfers/{transfer.number}/").json()["allowed_actions"]
    assert action in by_source.get(f"/api/v1/transfers/{transfer.number}/").json()["allowed_actions"]
    before = _written()
    url = f"/api/v1/transfers/{transfer.number}/actions/{action}/"
    response = by_destination.post(url, {}, format="json")
    assert response.status_code == 404, response.json()
    assert _written() == before
    response = by_source.post(url, {}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["transitions"][-1]["action"] == action


@pytest.mark.parametrize("state", sorted(STATES))
def test_allowed_actions_list_only_the_side_in_the_token_scope(state):
    transfer = make_transfer(state, package=_isolated_package())
    by_state = [name for name, (sources, _) in TRANSFER_ACTIONS.items() if state in sources]
    both, _ = api_client(locations=[transfer.source, transfer.destination])
    every, _ = api_client()
    for client, sides in ((api_client(locations=[transfer.source])[0], {"source"}),
                          (api_client(locations=[transfer.destination])[0], {"destination"}),
                          (both, {"source", "destination"}), (every, {"source", "destination"})):
        expected = [name for name in by_state if SIDE[name] in sides]
        assert client.get(f"/api/v1/transfers/{transfer.number}/").json()["allowed_actions"] == expected
        assert client.get("/api/v1/transfers/").json()["results"][0]["allowed_actions"] == expected


def test_source_token_cannot_receive():
    transfer = make_transfer("in_transit", package=_isolated_package(), quantities=(2, 1))
    by_source, _ = api_client(locations=[transfer.source])
    by_destination, _ = api_client(locations=[transfer.destination])
    assert by_source.get(f"/api/v1/transfers/{transfer.number}/").json()["allowed_actions"] == [
        "request_cancellation"]
    assert by_destination.get(f"/api/v1/transfers/{transfer.number}/").json()["allowed_actions"] == [
        "receive"]
    before = _written()
    response = by_source.post(f"/api/v1/transfers/{transfer.number}/actions/receive/", {}, format="json")
    assert response.status_code == 404, response.json()
    assert _written() == before
    response = by_destination.post(f"/api/v1/transfers/{transfer.number}/actions/receive/", {},
                                   format="json")
    assert response.status_code == 200, response.json()


def test_list_filters():
    waiting = make_transfer("waiting", package=_isolated_package())
    moving = make_transfer("in_transit", package=_isolated_package())
    client, _ = api_client()
    numbers = lambda params: [t["number"] for t in client.get("/api/v1/transfers/", params).json()["results"]]  # noqa: E731
    assert numbers({"status": "in_transit"}) == [moving.number]
    assert numbers({"source": waiting.source.code}) == [waiting.number]
    assert numbers({"package": moving.package.number}) == [moving.number]
    assert client.get("/api/v1/transfers/", {"status": "flying"}).status_code == 400


def test_dispatch_records_carrier_and_if_match():
    transfer = make_transfer("ready_to_shipment", package=_isolated_package())
    client, _ = api_client()
    url = f"/api/v1/transfers/{transfer.number}/actions/dispatch/"
    assert client.post(url, {"carrier": "X"}, format="json", HTTP_IF_MATCH='"9"').status_code == 412
    response = client.post(url, {"carrier": "X", "tracking_number": "T"}, format="json",
                           HTTP_IF_MATCH='"1"')
    assert response.status_code == 200
    assert response.json()["carrier"] == "X"
    assert client.post(url, {"status": "transferred"}, format="json").status_code == 400


def test_state_machine_publishes_who_and_side():
    client, _ = api_client()
    actions = {a["name"]: a for a in client.get("/api/v1/state-machines/transfer/").json()["actions"]}
    assert {name: a["side"] for name, a in actions.items()} == SIDE
    assert actions["cancel"]["who"] == ["operator", "integrator", "system"]
    assert actions["receive"]["label"] == "Receive"
