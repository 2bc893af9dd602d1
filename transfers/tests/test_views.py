"""Transfer Location Movements, the transfer list and the transfer page with its actions."""

import re

import pytest
from django.urls import reverse

from locations.models import OperatorAssignment, StockLevel
from locations.tests.factories import StockLocationFactory
from packages.models import Status as PackageStatus
from packages.tests.helpers import make_package
from transfers.actions import ACTIONS
from transfers.models import Status, TransferTransition
from transfers.tests.factories import make_transfer
from transfers.tests.spec import SIDE, TRANSFER_ACTIONS

pytestmark = pytest.mark.django_db


@pytest.fixture
def places():
    return StockLocationFactory(code="SRC", name="Source"), StockLocationFactory(code="DST", name="Dest")


def login(client, django_user_model, username, *locations, staff=False):
    user = django_user_model.objects.create_user(username, password="pw", is_staff=staff)
    for location in locations:
        OperatorAssignment.objects.create(user=user, location=location)
    client.force_login(user)
    return user


def transfer_to(destination, source, status=Status.WAITING):
    package = make_package(PackageStatus.PENDING_TRANSFER, location=destination, quantities=())
    return make_transfer(status, package=package, source=source)


CARD = re.compile(r'<article class="card" data-location="([^"]+)">(.*?)</article>', re.S)
DIRECTION = re.compile(r'data-direction="(\w+)">(.*?)</div>\s*</div>', re.S)
COUNT = re.compile(r'data-status="(\w+)" data-count="(\d+)"')


def card_counts(html):
    """``{location: {direction: {status: count}}}`` read from the rendered cards."""
    return {
        code: {direction: {s: int(n) for s, n in COUNT.findall(part)}
               for direction, part in DIRECTION.findall(body)}
        for code, body in CARD.findall(html)
    }


def test_movements_count_incoming_and_outgoing_apart(client, django_user_model, places):
    src, dst = places
    login(client, django_user_model, "boss", staff=True)
    transfer_to(dst, src, Status.WAITING)
    transfer_to(dst, src, Status.WAITING)
    transfer_to(dst, src, Status.IN_TRANSIT)
    transfer_to(src, dst, Status.TRANSFERRED)

    response = client.get(reverse("transfers:movements"))

    cards = card_counts(response.content.decode())
    assert set(cards) == {"SRC", "DST"}
    assert cards["DST"]["incoming"] == {"waiting": 2, "ready_to_shipment": 0, "in_transit": 1,
                                        "transferred": 0, "cancellation_waiting": 0, "cancelled": 0}
    assert cards["DST"]["outgoing"]["transferred"] == 1 and sum(cards["DST"]["outgoing"].values()) == 1
    assert cards["SRC"]["outgoing"]["waiting"] == 2 and cards["SRC"]["incoming"]["transferred"] == 1
    # most open first: DST has 3 open incoming, SRC 3 open outgoing (tie: by code)
    assert [(c["location"].code, c["open_total"]) for c in response.context["cards"]] == [
        ("DST", 3), ("SRC", 3)]


def test_movements_query_count_does_not_grow(client, django_user_model, places,
                                             django_assert_num_queries):
    src, dst = places
    login(client, django_user_model, "boss", staff=True)
    transfer_to(dst, src)
    # session, user, page count, cards
    with django_assert_num_queries(4):
        client.get(reverse("transfers:movements"))
    for _ in range(10):
        transfer_to(StockLocationFactory(), StockLocationFactory())
    with django_assert_num_queries(4):
        response = client.get(reverse("transfers:movements"))
    assert len(response.context["cards"]) == 22


def test_list_drills_down_by_location_direction_and_state(client, django_user_model, places):
    src, dst = places
    login(client, django_user_model, "op", dst)
    waiting = transfer_to(dst, src, Status.WAITING)
    in_transit = transfer_to(dst, src, Status.IN_TRANSIT)
    outgoing = transfer_to(src, dst, Status.WAITING)

    response = client.get(reverse("transfers:list"), {"location": "DST", "direction": "incoming",
                                                      "status": "waiting"})

    assert [t.number for t in response.context["page_obj"].object_list] == [waiting.number]
    slider = {s["slug"]: s["count"] for s in response.context["slider"]}
    assert slider["waiting"] == 1 and slider["in_transit"] == 1
    out = client.get(reverse("transfers:list"), {"location": "DST", "direction": "outgoing"})
    assert [t.number for t in out.context["page_obj"].object_list] == [outgoing.number]
    search = client.get(reverse("transfers:list"), {"q": in_transit.items.get().sku.code})
    assert [t.number for t in search.context["page_obj"].object_list] == [in_transit.number]


def test_list_names_the_locations_in_a_fixed_number_of_queries(client, django_user_model, places,
                                                               django_assert_num_queries):
    src, dst = places
    login(client, django_user_model, "boss", staff=True)
    transfer_to(dst, src)
    # session, user, page count, rows
    with django_assert_num_queries(4):
        client.get(reverse("transfers:list"))
    for i in range(5):
        transfer_to(StockLocationFactory(name=f"Destination {i}"), StockLocationFactory(name=f"Source {i}"))
    with django_assert_num_queries(4):
        response = client.get(reverse("transfers:list"))

    assert len(response.context["page_obj"].object_list) == 6
    html = response.content.decode()
    assert '<td class="small" data-label="From"><span class="location-name code-title" title="SRC" ' \
           'data-code="SRC">Source</span>' in html
    assert 'data-code="DST">Dest</span>' in html


def test_operator_sees_transfers_touching_their_locations_only(client, django_user_model, places):
    src, dst = places
    login(client, django_user_model, "op", dst)
    mine = transfer_to(dst, src)
    theirs = transfer_to(StockLocationFactory(), src)
    listing = client.get(reverse("transfers:list"))
    assert [t.number for t in listing.context["page_obj"].object_list] == [mine.number]
    assert client.get(reverse("transfers:detail", args=[theirs.number])).status_code == 404
    response = client.post(reverse("transfers:action", args=[theirs.number, "cancel"]), {"version": 1})
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Status.WAITING


def test_source_operator_dispatches_destination_operator_receives(client, django_user_model, places):
    src, dst = places
    transfer = transfer_to(dst, src, Status.READY_TO_SHIPMENT)
    sku = transfer.items.get().sku

    receiver = login(client, django_user_model, "receiver", dst)
    page = client.get(reverse("transfers:detail", args=[transfer.number]))
    assert page.context["actions"] == []  # dispatching is the source's job
    assert client.post(reverse("transfers:action", args=[transfer.number, "dispatch"]),
                       {"version": 1}).status_code == 404
    transfer.refresh_from_db()
    assert transfer.status == Status.READY_TO_SHIPMENT

    login(client, django_user_model, "sender", src)
    page = client.get(reverse("transfers:detail", args=[transfer.number]))
    assert [a["name"] for a in page.context["actions"]] == ["dispatch", "request_cancellation"]
    response = client.post(reverse("transfers:action", args=[transfer.number, "dispatch"]),
                           {"version": 1, "carrier": "Loggi", "tracking_number": "LG1"}, follow=True)
    transfer.refresh_from_db()
    assert (transfer.status, transfer.tracking_number) == (Status.IN_TRANSIT, "LG1")
    assert "Dispatch: the transfer is now In Transit." in [str(m) for m in response.context["messages"]]
    assert TransferTransition.objects.get(transfer=transfer, action="dispatch").actor == "user:sender"

    client.force_login(receiver)
    client.post(reverse("transfers:action", args=[transfer.number, "receive"]), {"version": 2})
    transfer.refresh_from_db()
    assert transfer.status == Status.TRANSFERRED
    assert StockLevel.objects.get(location=dst, sku=sku).on_hand == 2


def test_stale_transfer_form_conflicts(client, django_user_model, places):
    src, dst = places
    login(client, django_user_model, "sender", src)
    transfer = transfer_to(dst, src, Status.WAITING)
    client.post(reverse("transfers:action", args=[transfer.number, "ready_for_dispatch"]), {"version": 1})
    response = client.post(reverse("transfers:action", args=[transfer.number, "cancel"]), {"version": 1},
                           follow=True)
    transfer.refresh_from_db()
    assert transfer.status == Status.READY_TO_SHIPMENT
    assert any("it is now Ready To Shipment" in str(m) for m in response.context["messages"])


def test_transfer_domain_error_is_a_message(client, django_user_model, places):
    src, dst = places
    login(client, django_user_model, "boss", staff=True)
    transfer = transfer_to(dst, src, Status.TRANSFERRED)
    response = client.post(reverse("transfers:action", args=[transfer.number, "dispatch"]),
                           {"version": 1}, follow=True)
    assert response.status_code == 200
    assert any(str(m).startswith("Dispatch refused:") for m in response.context["messages"])


SOURCE_SIDE = sorted(name for name, side in SIDE.items() if side == "source")


@pytest.mark.parametrize("action", [*SOURCE_SIDE, "receive"])
def test_an_operator_runs_only_the_actions_of_their_end(client, django_user_model, places, action):
    """The destination's operator gets 404 for a source action (and the source's for
    receive) and is not offered it; nothing changes. The other end's operator runs it."""
    src, dst = places
    state = sorted(TRANSFER_ACTIONS[action][0])[0]
    transfer = transfer_to(dst, src, state)
    mine, theirs = (src, dst) if SIDE[action] == "source" else (dst, src)
    url = reverse("transfers:action", args=[transfer.number, action])

    login(client, django_user_model, "other-end", theirs)
    page = client.get(reverse("transfers:detail", args=[transfer.number]))
    assert action not in [a["name"] for a in page.context["actions"]]
    assert client.post(url, {"version": 1}).status_code == 404
    transfer.refresh_from_db()
    assert (transfer.status, transfer.version) == (state, 1)

    login(client, django_user_model, "this-end", mine)
    page = client.get(reverse("transfers:detail", args=[transfer.number]))
    assert action in [a["name"] for a in page.context["actions"]]
    response = client.post(url, {"version": 1, "reason": "why"}, follow=True)
    transfer.refresh_from_db()
    assert transfer.status in TRANSFER_ACTIONS[action][1]
    log = TransferTransition.objects.get(transfer=transfer, action=action)
    assert log.actor == "user:this-end"
    assert log.reason == ("why" if "reason" in ACTIONS[action].input().fields else "")
    assert f"{ACTIONS[action].label}: the transfer is now" in " ".join(
        str(m) for m in response.context["messages"])


def test_action_forms_are_derived_from_the_inputs(client, django_user_model, places):
    src, dst = places
    login(client, django_user_model, "boss", staff=True)
    transfer = transfer_to(dst, src, Status.WAITING)
    page = client.get(reverse("transfers:detail", args=[transfer.number]))
    forms = {a["name"]: a["form"] for a in page.context["actions"]}
    assert list(forms) == ["ready_for_dispatch", "dispatch", "cancel"]
    assert forms["ready_for_dispatch"] is None
    assert list(forms["dispatch"].fields) == ["carrier", "tracking_number"]
    assert list(forms["cancel"].fields) == ["reason"]
    assert 'name="tracking_number"' in page.content.decode()
    response = client.post(reverse("transfers:action", args=[transfer.number, "dispatch"]),
                           {"version": 1, "carrier": "x" * 65}, follow=True)
    assert any("nothing was done" in str(m) for m in response.context["messages"])
    transfer.refresh_from_db()
    assert transfer.status == Status.WAITING
