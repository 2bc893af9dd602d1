"""Operator web UI for packages: visibility, dashboard, list, detail, actions with the
version check, shipping ticket, and query counts that do not grow with the rows shown."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from locations.models import OperatorAssignment, StockLevel
from locations.tests.factories import StockLocationFactory
from oms.actions.actors import Actor
from oms.events.models import OutboxEvent
from packages import views
from packages.models import Package, PackageTransition, Status
from packages.tests.factories import BrandFactory, DenialReasonFactory
from packages.tests.helpers import action_url, make_package, make_user, stock_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def here():
    return StockLocationFactory(code="HERE", name="Here Warehouse", city="Campinas", region="SP",
                                postcode="13000")


def detail_url(package):
    return reverse("packages:detail", args=[package.number])


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def written(package):
    """Everything an action would write for ``package``."""
    package.refresh_from_db()
    return (package.status, package.version, PackageTransition.objects.filter(package=package).count(),
            OutboxEvent.objects.count(), stock_snapshot())


# --- login and visibility --------------------------------------------------------------------

@pytest.mark.parametrize("name,kwargs", [
    ("packages:movements", {}), ("packages:list", {}), ("transfers:movements", {}),
    ("transfers:list", {}), ("packages:detail", {"number": "X"}), ("locations:detail", {"code": "X"}),
])
def test_every_page_needs_login(client, name, kwargs):
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_root_redirects_to_package_movements(op_client):
    response = op_client.get("/")
    assert response.status_code == 302 and response.url == reverse("packages:movements")


def test_login_page_logs_in_and_lands_on_the_dashboard(client, op_user):
    page = client.get(reverse("login"))
    assert page.status_code == 200 and b'name="csrfmiddlewaretoken"' in page.content
    response = client.post(reverse("login"), {"username": "olivia", "password": "pw"})
    assert response.status_code == 302 and response.url == reverse("packages:movements")


def test_operator_sees_only_packages_of_assigned_locations(op_client, here, elsewhere):
    mine = make_package(Status.PENDING, location=here, number="MINE-1")
    theirs = make_package(Status.PENDING, location=elsewhere, number="THEIRS-1")

    dashboard = op_client.get(reverse("packages:movements")).content.decode()
    listing = op_client.get(reverse("packages:list")).content.decode()

    assert 'data-location="HERE"' in dashboard and 'data-location="ELSEWHERE"' not in dashboard
    assert mine.number in listing and theirs.number not in listing
    assert op_client.get(detail_url(mine)).status_code == 200
    assert op_client.get(detail_url(theirs)).status_code == 404
    assert op_client.get(reverse("packages:ticket", args=[theirs.number])).status_code == 404
    assert op_client.get(reverse("packages:list"), {"location": "ELSEWHERE"}).status_code == 404
    assert op_client.get(reverse("locations:detail", args=["ELSEWHERE"])).status_code == 404


def test_crafted_post_for_another_locations_package_is_404_and_changes_nothing(op_client, elsewhere):
    theirs = make_package(Status.PENDING, location=elsewhere)
    before = written(theirs)

    for action, data in [("complete_packaging", {}), ("ship", {"carrier": "C", "tracking_number": "T"}),
                         ("cancel", {"reason": "x"})]:
        response = op_client.post(action_url(theirs, action), {"version": theirs.version, **data})
        assert response.status_code == 404

    assert written(theirs) == before


def test_staff_see_every_location(client, django_user_model, here, elsewhere):
    client.force_login(make_user(django_user_model, "boss", staff=True))
    make_package(Status.PENDING, location=here)
    theirs = make_package(Status.PENDING, location=elsewhere)
    dashboard = client.get(reverse("packages:movements")).content.decode()
    assert 'data-location="HERE"' in dashboard and 'data-location="ELSEWHERE"' in dashboard
    assert client.get(detail_url(theirs)).status_code == 200


def test_operator_without_assignment_sees_an_explanation(client, django_user_model, here):
    make_package(Status.PENDING, location=here)
    client.force_login(make_user(django_user_model, "newbie"))
    response = client.get(reverse("packages:movements"))
    assert b"not assigned to any stock location" in response.content
    assert response.context["cards"] == []


# --- Package Location Movements ----------------------------------------------------------------

def _card_counts(html: str) -> dict[str, dict[int, int]]:
    """``{location_code: {status_code: count}}`` read from the rendered cards."""
    cards = {}
    for block in re.findall(r'<article class="card" data-location="([^"]+)">(.*?)</article>', html, re.S):
        code, body = block
        cards[code] = {int(s): int(n) for s, n in
                       re.findall(r'data-status="(\d+)" data-count="(\d+)"', body)}
    return cards


def test_dashboard_cards_count_the_four_open_states(op_client, here, django_user_model):
    for status, n in [(Status.PENDING, 3), (Status.IN_PROGRESS, 2), (Status.PENDING_TRANSFER, 1),
                      (Status.READY_TO_PACKAGING, 1), (Status.SHIPPED, 4)]:
        for _ in range(n):
            make_package(status, location=here)

    response = op_client.get(reverse("packages:movements"))

    cards = _card_counts(response.content.decode())
    assert cards == {"HERE": {100: 3, 200: 2, 300: 1, 400: 1}}
    html = response.content.decode()
    for label in ("Waiting", "Preparing", "Waiting Transfer Operations", "Ready to Package"):
        assert label in html
    assert f'{reverse("packages:list")}?location=HERE&amp;status=pending' in html
    assert reverse("locations:detail", args=["HERE"]) in html


def test_dashboard_sorts_most_waiting_first_searches_and_paginates(client, django_user_model):
    boss = make_user(django_user_model, "boss", staff=True)
    client.force_login(boss)
    locations = [StockLocationFactory(code=f"L{i:03d}", name=f"Loc {i}", city="Recife" if i == 7 else "Natal")
                 for i in range(60)]
    for i, location in enumerate(locations):
        make_package(Status.PENDING if i % 3 else Status.IN_PROGRESS, location=location)
    for _ in range(5):
        make_package(Status.PENDING, location=locations[42])
    StockLocationFactory(code="EMPTY")  # no package: not a working location

    first = client.get(reverse("packages:movements"))
    cards = list(_card_counts(first.content.decode()))
    assert cards[0] == "L042"  # 6 waiting
    assert len(cards) == 48 and first.context["page_obj"].paginator.count == 60
    second = client.get(reverse("packages:movements"), {"page": 2})
    assert len(_card_counts(second.content.decode())) == 12
    assert not set(cards) & set(_card_counts(second.content.decode()))

    by_code = client.get(reverse("packages:movements"), {"sort": "code"})
    assert list(_card_counts(by_code.content.decode()))[:2] == ["L000", "L001"]
    search = client.get(reverse("packages:movements"), {"q": "recife"})
    assert list(_card_counts(search.content.decode())) == ["L007"]
    with_empty = client.get(reverse("packages:movements"), {"empty": "1", "q": "EMPTY"})
    assert list(_card_counts(with_empty.content.decode())) == ["EMPTY"]


def test_dashboard_htmx_search_returns_only_the_results_fragment(op_client, here):
    make_package(Status.PENDING, location=here)
    response = op_client.get(reverse("packages:movements"), {"q": "HERE"},
                             headers={"HX-Request": "true", "HX-Target": "movement-results"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="movement-results">') and "<html" not in html
    assert 'data-location="HERE"' in html


def test_dashboard_query_count_does_not_grow_with_cards(client, django_user_model,
                                                        django_assert_num_queries):
    boss = make_user(django_user_model, "boss", staff=True)
    client.force_login(boss)
    make_package(Status.PENDING, location=StockLocationFactory())
    # session, user, cards page count, cards with their blocked counts and ageing, totals with
    # the blocked total
    with django_assert_num_queries(5):
        client.get(reverse("packages:movements"))
    for _ in range(30):
        make_package(Status.IN_PROGRESS, location=StockLocationFactory())
    with django_assert_num_queries(5):
        response = client.get(reverse("packages:movements"))
    assert len(response.context["cards"]) == 31


def test_operator_dashboard_query_count_is_fixed(op_client, here, django_user_model,
                                                 django_assert_num_queries, op_user):
    for _ in range(3):
        location = StockLocationFactory()
        OperatorAssignment.objects.create(user=op_user, location=location)
        make_package(Status.PENDING, location=location)
    with django_assert_num_queries(5):
        response = op_client.get(reverse("packages:movements"))
    assert len(response.context["cards"]) == 4


# --- location view --------------------------------------------------------------------------

def test_location_view_query_count_does_not_grow(op_client, here, django_assert_num_queries):
    make_package(Status.PENDING, location=here)
    # session, user, location with its blocked count and ageing, package counts, transfer counts
    with django_assert_num_queries(5):
        op_client.get(reverse("locations:detail", args=["HERE"]))
    for status in Status.values:
        make_package(status, location=here)
    with django_assert_num_queries(5):
        response = op_client.get(reverse("locations:detail", args=["HERE"]))
    counts = {c["code"]: c["count"] for c in response.context["package_counts"]}
    assert len(counts) == 17 and counts[Status.PENDING] == 2 and counts[Status.SHIPPED] == 1


# --- package list ---------------------------------------------------------------------------

def test_list_filters_by_location_and_state_with_status_slider(op_client, here):
    pending = make_package(Status.PENDING, location=here, number="P-PENDING")
    make_package(Status.PENDING, location=here)
    shipped = make_package(Status.SHIPPED, location=here, number="P-SHIPPED")

    response = op_client.get(reverse("packages:list"), {"location": "HERE", "status": "pending"})

    html = response.content.decode()
    assert pending.number in html and shipped.number not in html
    slider = {s["slug"]: s["count"] for s in response.context["slider"]}
    assert len(slider) == 17 and slider["pending"] == 2 and slider["shipped"] == 1
    assert [s["slug"] for s in response.context["slider"] if s["active"]] == ["pending"]
    assert 'href="?location=HERE&amp;status=shipped"' in html


@pytest.mark.parametrize("field", ["number", "order", "sku", "tracking"])
def test_list_search_by_number_order_sku_and_tracking(op_client, here, field):
    target = make_package(Status.SHIPPED, location=here, number="PKG-TARGET", order_number="ORD-777",
                          tracking_number="TRACK-555")
    other = make_package(Status.SHIPPED, location=here, number="PKG-OTHER", tracking_number="ZZZ")
    query = {"number": "target", "order": "ord-777", "sku": target.items.get().sku.code,
             "tracking": "TRACK-5"}[field]

    response = op_client.get(reverse("packages:list"), {"q": query})

    numbers = [p.number for p in response.context["page_obj"].object_list]
    assert numbers == [target.number] and other.number not in numbers


def test_list_shows_time_in_state_flags_late_and_sorts(op_client, here):
    now = timezone.now()
    late = make_package(Status.PENDING, location=here, number="LATE", ship_by=now - dt.timedelta(hours=2),
                        status_changed_at=now - dt.timedelta(days=3))
    on_time = make_package(Status.PENDING, location=here, number="ONTIME", ship_by=now + dt.timedelta(days=1),
                           status_changed_at=now - dt.timedelta(hours=1))
    shipped_late = make_package(Status.SHIPPED, location=here, number="GONE",
                                ship_by=now - dt.timedelta(days=1))

    response = op_client.get(reverse("packages:list"))
    rows = {p.number: p for p in response.context["page_obj"].object_list}
    assert rows["LATE"].is_late and not rows["ONTIME"].is_late and not rows["GONE"].is_late
    html = response.content.decode()
    assert re.search(r'data-package="LATE" class="late">.*?3\xa0days.*?LATE</span>', html, re.S)
    order = [p.number for p in response.context["page_obj"].object_list]
    assert order.index(late.number) < order.index(on_time.number)  # longest in state first
    by_ship_by = op_client.get(reverse("packages:list"), {"sort": "ship_by"})
    assert [p.number for p in by_ship_by.context["page_obj"].object_list] == [
        shipped_late.number, late.number, on_time.number]


def test_list_query_count_does_not_grow_with_rows(op_client, here, django_assert_num_queries):
    make_package(Status.PENDING, location=here)
    # session, user, location, slider counts, blocked count, page count, rows
    with django_assert_num_queries(7):
        op_client.get(reverse("packages:list"), {"location": "HERE", "status": "pending"})
    for _ in range(40):
        make_package(Status.PENDING, location=here, quantities=(1, 2))
    with django_assert_num_queries(7):
        response = op_client.get(reverse("packages:list"), {"location": "HERE", "status": "pending",
                                                            "q": "T-"})
    assert len(response.context["page_obj"].object_list) == 41
    # without a location: no location lookup
    with django_assert_num_queries(6):
        op_client.get(reverse("packages:list"))


def test_list_htmx_search_returns_only_the_results_fragment(op_client, here):
    make_package(Status.PENDING, location=here, number="FIND-ME")
    make_package(Status.PENDING, location=here, number="NOT-ME")
    response = op_client.get(reverse("packages:list"), {"q": "find"},
                             headers={"HX-Request": "true", "HX-Target": "package-results"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="package-results">') and "<html" not in html
    assert "FIND-ME" in html and "NOT-ME" not in html


def test_list_paginates(op_client, here):
    for _ in range(55):
        make_package(Status.PENDING, location=here)
    first = op_client.get(reverse("packages:list"))
    assert len(first.context["page_obj"].object_list) == 50
    second = op_client.get(reverse("packages:list"), {"page": 2})
    assert len(second.context["page_obj"].object_list) == 5


# --- package detail -------------------------------------------------------------------------

def test_detail_shows_information_items_stock_order_and_history(op_client, here):
    package = make_package(Status.PENDING, location=here, quantities=(2, 1), on_hand=7,
                           order_number="ORD-9", tracking_number="", number="ORD-9-1")
    sibling = make_package(Status.SHIPPED, location=here, order_number="ORD-9", number="ORD-9-2")
    PackageTransition.objects.create(package=package, from_status=None, to_status=Status.PENDING,
                                     action="create", actor="import:olist", reason="imported")

    response = op_client.get(detail_url(package))

    html = response.content.decode()
    for text in ("Package Information", "Here Warehouse", "Campinas, SP 13000", "Pending", "Test-Brand",
                 "Order Information", "ORD-9", sibling.number, "Products in the Package",
                 "Transition history", "import:olist", "imported"):
        assert text in html, text
    rows = response.context["items"]
    assert [(r["item"].quantity, r["stock"].on_hand, r["stock"].reserved, r["stock"].available)
            for r in rows] == [(2, 7, 2, 5), (1, 7, 1, 6)]
    assert response.context["primary"]["name"] == "complete_packaging"
    secondary = [a["name"] for a in response.context["secondary"]]
    assert {"report_missing", "report_defective", "start_preparing", "refuse", "cancel"} <= set(secondary)
    assert "Select Action" in html and "Product Not Found" in html and "Defective Product" in html
    assert f'name="version" value="{package.version}"' in html


def test_detail_primary_action_per_state(op_client, here):
    expected = {
        Status.PENDING: "complete_packaging",
        Status.IN_PROGRESS: "complete_packaging",
        Status.READY_TO_PACKAGING: "complete_packaging",
        Status.PACKAGING_COMPLETED: "ship",
        Status.PENDING_SHIPPING_LABEL: "confirm_label_printed",
        Status.PRODUCT_OUT_OF_STOCK: "reschedule",
        Status.TO_BE_RESCHEDULED: "reassign_location",
        Status.SHIPPED: None,
        Status.DELIVERED: None,
    }
    for status, action in expected.items():
        package = make_package(status, location=here)
        primary = op_client.get(detail_url(package)).context["primary"]
        assert (primary["name"] if primary else None) == action, Status(status).label


def test_detail_never_offers_system_or_api_only_or_brand_disabled_actions(op_client, here):
    brand = BrandFactory(slug="strict", disabled_actions=["report_defective"])
    pending = make_package(Status.PENDING, location=here, brand=brand)
    shipped = make_package(Status.SHIPPED, location=here)
    offered = [a["name"] for a in op_client.get(detail_url(pending)).context["secondary"]]
    assert "report_missing" in offered and "report_defective" not in offered
    shipped_ctx = op_client.get(detail_url(shipped)).context
    # carrier events are A/S: only the data correction update_shipment / update_invoice is offered
    assert shipped_ctx["primary"] is None
    assert [a["name"] for a in shipped_ctx["secondary"]] == ["update_shipment", "update_invoice"]
    assert op_client.post(action_url(shipped, "mark_delivered"), {"version": 1}).status_code == 404


def test_detail_links_replacement_and_original(op_client, here):
    original = make_package(Status.CANCELED, location=here, number="ORIG")
    replacement = make_package(Status.PENDING, location=here, number="REPL", replaces=original)
    html = op_client.get(detail_url(original)).content.decode()
    assert 'data-testid="replacement-link"' in html and detail_url(replacement) in html
    html = op_client.get(detail_url(replacement)).content.decode()
    assert 'data-testid="original-link"' in html and detail_url(original) in html


def test_detail_explains_why_it_waits(op_client, here):
    now = timezone.now()
    waiting = make_package(Status.PRODUCT_OUT_OF_STOCK, location=here,
                           stock_shortage="short: SKU X needs 2, has 0", stock_checked_at=now,
                           next_stock_check_at=now + dt.timedelta(minutes=30))
    html = op_client.get(detail_url(waiting)).content.decode()
    assert "What it waits for" in html and "short: SKU X needs 2, has 0" in html
    assert "Next automatic check" in html
    refused = make_package(Status.TO_BE_RESCHEDULED, location=here,
                           denial_reason=DenialReasonFactory(title="No room"))
    assert "No room" in op_client.get(detail_url(refused)).content.decode()


def test_detail_query_count_does_not_grow_with_items(op_client, here, django_assert_max_num_queries):
    small = make_package(Status.PENDING, location=here, quantities=(1,))
    big = make_package(Status.PENDING, location=here, quantities=(1,) * 15)
    with django_assert_max_num_queries(12) as small_queries:
        op_client.get(detail_url(small))
    with django_assert_max_num_queries(len(small_queries)):
        op_client.get(detail_url(big))


def test_detail_transfers_name_their_locations_in_a_fixed_number_of_queries(
        op_client, here, django_assert_max_num_queries):
    from transfers.models import Status as TransferStatus
    from transfers.tests.factories import make_transfer

    one = make_package(Status.PENDING_TRANSFER, location=here, quantities=())
    many = make_package(Status.PENDING_TRANSFER, location=here, quantities=())
    make_transfer(TransferStatus.WAITING, package=one,
                  source=StockLocationFactory(code="SRC-0", name="Source Store Zero"))
    for i in range(4):
        make_transfer(TransferStatus.WAITING, package=many,
                      source=StockLocationFactory(code=f"SRC-{i + 1}", name=f"Source Store {i + 1}"))
    with django_assert_max_num_queries(16) as one_queries:
        op_client.get(detail_url(one))
    with django_assert_max_num_queries(len(one_queries)):
        response = op_client.get(detail_url(many))

    html = response.content.decode()
    table = html[html.index('data-testid="package-transfers"'):]
    assert 'title="SRC-3" data-code="SRC-3">Source Store 3</span>' in table
    assert f'title="HERE" data-code="HERE">{here.name}</span>' in table


# --- actions --------------------------------------------------------------------------------

def test_complete_packaging_then_ship_shows_the_ticket(op_client, here):
    package = make_package(Status.PENDING, location=here, quantities=(2,), on_hand=5)

    response = op_client.post(action_url(package, "complete_packaging"), {"version": package.version})
    assert response.status_code == 302 and response.url == detail_url(package)
    package.refresh_from_db()
    assert package.status == Status.PACKAGING_COMPLETED and package.version == 2
    log = PackageTransition.objects.get(package=package, action="complete_packaging")
    assert (log.actor, log.actor_user.username) == ("user:olivia", "olivia")
    assert StockLevel.objects.get(location=here).on_hand == 3

    page = op_client.get(response.url)
    assert "Packaging Completed: the package is now Packaging Completed." in messages_of(page)
    assert page.context["primary"]["name"] == "ship"

    response = op_client.post(action_url(package, "ship"),
                              {"version": 2, "carrier": "Correios", "tracking_number": "BR123"})
    assert response.status_code == 302 and response.url == detail_url(package) + "#shipping-ticket"
    package.refresh_from_db()
    assert (package.status, package.carrier, package.tracking_number) == (Status.SHIPPED, "Correios", "BR123")
    page = op_client.get(detail_url(package))
    html = page.content.decode()
    assert 'id="shipping-ticket"' in html and "BR123" in html and "<svg" in html
    ticket = op_client.get(reverse("packages:ticket", args=[package.number]))
    assert ticket.status_code == 200
    ticket_html = ticket.content.decode()
    assert 'data-value="BR123"' in ticket_html and f'data-value="{package.number}"' in ticket_html
    assert "Here Warehouse" in ticket_html and "Campinas, SP" in ticket_html
    assert f"Customer of order {package.order_number}" in ticket_html


def test_ticket_before_ship_redirects_with_a_message(op_client, here):
    package = make_package(Status.PACKAGING_COMPLETED, location=here)
    response = op_client.get(reverse("packages:ticket", args=[package.number]), follow=True)
    assert "The shipping ticket exists once the package is shipped." in messages_of(response)


def test_stale_form_shows_conflict_and_does_not_act(op_client, here):
    package = make_package(Status.PENDING, location=here)
    stale_version = package.version
    op_client.post(action_url(package, "start_preparing"), {"version": stale_version})
    before = written(package)

    response = op_client.post(action_url(package, "complete_packaging"), {"version": stale_version},
                              follow=True)

    assert written(package) == before
    assert any("it is now In Progress" in m for m in messages_of(response))


def test_a_change_between_the_page_read_and_the_action_is_a_conflict(op_client, here, monkeypatch):
    # Regression: answering the conflict reloaded the package in place, and django-fsm's
    # refresh_from_db switches the status field's protection off and on for the whole class,
    # so a concurrent request in another thread failed with a 500.
    package = make_package(Status.PENDING, location=here)
    real_run = views.package_run
    monkeypatch.setattr(Package, "refresh_from_db", lambda *args, **kwargs: pytest.fail(
        "refresh_from_db of a package is not thread-safe (django-fsm protected field)"))

    def another_operator_first(action, **kwargs):
        real_run("start_preparing", package_id=package.pk, actor=Actor("user", "someone"))
        return real_run(action, **kwargs)

    monkeypatch.setattr(views, "package_run", another_operator_first)
    response = op_client.post(action_url(package, "start_preparing"), {"version": 1}, follow=True)
    assert response.status_code == 200
    assert any("Someone else changed this package" in m for m in messages_of(response))
    assert Package.objects.get(pk=package.pk).version == 2


def test_conflict_message_names_someone_else(client, django_user_model, here, op_user):
    package = make_package(Status.PENDING, location=here)
    colleague = make_user(django_user_model, "carl", here)
    client.force_login(colleague)
    client.post(action_url(package, "start_preparing"), {"version": 1})
    client.force_login(op_user)
    response = client.post(action_url(package, "start_preparing"), {"version": 1}, follow=True)
    expected = "Someone else changed this package (user:carl: Start Preparing): it is now In Progress"
    assert any(m.startswith(expected) for m in messages_of(response))


def test_double_submit_acts_once(op_client, here):
    package = make_package(Status.PACKAGING_COMPLETED, location=here)
    data = {"version": package.version, "carrier": "C", "tracking_number": "T1"}
    first = op_client.post(action_url(package, "ship"), data)
    second = op_client.post(action_url(package, "ship"), data, follow=True)
    assert first.status_code == 302 and second.status_code == 200
    assert PackageTransition.objects.filter(package=package, action="ship").count() == 1
    assert any("it is now Shipped" in m and "Nothing was done a second time" in m
               for m in messages_of(second))


def test_domain_error_is_a_message_not_a_500(op_client, here):
    package = make_package(Status.PRODUCT_OUT_OF_STOCK, location=here, on_hand=0)
    before = written(package)
    response = op_client.post(action_url(package, "reschedule"), {"version": package.version}, follow=True)
    assert response.status_code == 200
    assert any(m.startswith("Reschedule refused:") and "needs 1, has 0" in m for m in messages_of(response))
    assert written(package) == before


def test_action_not_allowed_now_is_a_message(op_client, here):
    package = make_package(Status.SHIPPED, location=here)
    response = op_client.post(action_url(package, "complete_packaging"), {"version": package.version},
                              follow=True)
    assert any("refused" in m for m in messages_of(response))
    page = op_client.get(action_url(package, "complete_packaging"), follow=True)
    assert any("not possible while the package is Shipped" in m for m in messages_of(page))


def test_post_without_version_does_nothing(op_client, here):
    package = make_package(Status.PENDING, location=here)
    before = written(package)
    response = op_client.post(action_url(package, "complete_packaging"), {}, follow=True)
    assert written(package) == before
    assert any("no package version" in m for m in messages_of(response))


def test_actions_need_csrf(client, op_user, here):
    from django.test import Client

    package = make_package(Status.PENDING, location=here)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(op_user)
    response = strict.post(action_url(package, "complete_packaging"), {"version": 1})
    assert response.status_code == 403 and b"Form expired" in response.content
    package.refresh_from_db()
    assert package.status == Status.PENDING


def test_report_missing_with_per_item_quantities(op_client, here):
    package = make_package(Status.PENDING, location=here, quantities=(3, 1), on_hand=5)
    first, second = package.items.order_by("id")

    form_page = op_client.get(action_url(package, "report_missing"))
    assert form_page.status_code == 200
    assert f'name="qty_{first.pk}"' in form_page.content.decode()

    invalid = op_client.post(action_url(package, "report_missing"),
                             {"version": 1, f"qty_{first.pk}": 0, f"qty_{second.pk}": 0})
    assert invalid.status_code == 400 and b"Choose at least one item" in invalid.content
    too_many = op_client.post(action_url(package, "report_missing"), {"version": 1, f"qty_{first.pk}": 4})
    assert too_many.status_code == 400

    response = op_client.post(action_url(package, "report_missing"),
                              {"version": 1, f"qty_{first.pk}": 2, f"qty_{second.pk}": 0}, follow=True)
    package.refresh_from_db()
    assert package.status == Status.CANCELED
    replacement = package.replacement
    assert any(m.startswith("Replacement package") and f">{replacement.number}</a> created" in m
               for m in messages_of(response))
    log = PackageTransition.objects.get(package=package, action="report_missing")
    assert log.payload["items"] == [{"sku": first.sku.code, "quantity": 2}]
    assert StockLevel.objects.get(location=here, sku=first.sku).on_hand == 3


def test_report_defective_from_the_menu(op_client, here):
    package = make_package(Status.IN_PROGRESS, location=here, quantities=(1,), on_hand=3)
    item = package.items.get()
    op_client.post(action_url(package, "report_defective"), {"version": 1, f"qty_{item.pk}": 1})
    package.refresh_from_db()
    assert package.status == Status.DEFECTIVE_PRODUCT_FOUND
    assert StockLevel.objects.get(location=here, sku=item.sku).damaged == 1


def test_ship_form_errors_rerender_with_the_submitted_version(op_client, here):
    package = make_package(Status.PACKAGING_COMPLETED, location=here)
    response = op_client.post(action_url(package, "ship"), {"version": 1, "carrier": "C"})
    assert response.status_code == 400
    assert b'name="version" value="1"' in response.content
    package.refresh_from_db()
    assert package.status == Status.PACKAGING_COMPLETED


def test_refuse_and_reassign_forms(op_client, here, elsewhere):
    reason = DenialReasonFactory(title="Closed today")
    package = make_package(Status.PENDING, location=here)
    page = op_client.get(action_url(package, "refuse"))
    assert b"Closed today" in page.content
    op_client.post(action_url(package, "refuse"), {"version": 1, "denial_reason_id": reason.pk})
    package.refresh_from_db()
    assert package.status == Status.TO_BE_RESCHEDULED

    response = op_client.post(action_url(package, "reassign_location"),
                              {"version": 2, "location_code": "ELSEWHERE"}, follow=True)
    package.refresh_from_db()
    assert package.location_id == elsewhere.pk
    # The package left the operator's locations: back to the list of the old one, not a 404.
    assert response.status_code == 200
    assert any("location you do not work at" in m for m in messages_of(response))


def test_unknown_action_is_404(op_client, here):
    package = make_package(Status.PENDING, location=here)
    assert op_client.post(action_url(package, "transfers_arrived"), {"version": 1}).status_code == 404
    assert op_client.post(action_url(package, "nonsense"), {"version": 1}).status_code == 404


# --- concurrency (PostgreSQL) ------------------------------------------------------------------

@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_submits_of_the_same_form_act_once(django_user_model):
    import threading

    from django.db import connection
    from django.test import Client

    location = StockLocationFactory()
    user = make_user(django_user_model, "racer", location)
    package = make_package(Status.PACKAGING_COMPLETED, location=location)
    barrier = threading.Barrier(6)
    statuses = []

    def submit(i):
        try:
            client = Client()
            client.force_login(user)
            barrier.wait()
            response = client.post(action_url(package, "ship"),
                                   {"version": 1, "carrier": "C", "tracking_number": f"T{i}"})
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [302] * 6
    assert PackageTransition.objects.filter(package=package, action="ship").count() == 1
    package.refresh_from_db()
    assert package.version == 2
