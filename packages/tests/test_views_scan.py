"""Scan to open: the top bar's field (``#scan``) and ``GET /find/?q=``: an exact package,
tracking or order number (or a shipping ticket's barcode) opens the package, or the list of
an order's packages; anything else the list searched with it. Only the user's locations."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from locations.models import OperatorAssignment
from packages.barcode import PATTERNS, START_C, STOP, code128_values
from packages.models import Package, Status
from packages.selectors import package_find_for_user
from packages.tests.helpers import make_package
from packages.views import SCAN_MAX_CHARS, shipping_ticket_context

pytestmark = pytest.mark.django_db

FIND_URL = reverse("find")
LIST_URL = reverse("packages:list")


def detail_url(package):
    return reverse("packages:detail", args=[package.number])


def find(client, q):
    return client.get(FIND_URL, {"q": q})


def decode_code128(svg: str) -> str:
    """The text a scanner reads from ``code128_svg``'s bars: their widths back to symbol
    values, then to characters (code set B) or digit pairs (code set C)."""
    rects = re.findall(r'<rect x="(\d+)" y="0" width="(\d+)"', svg.split("<g", 1)[1])
    edges = []  # widths of bars and spaces, bar first
    position = int(rects[0][0])
    for x, width in rects:
        if int(x) > position:
            edges.append(int(x) - position)  # the space before this bar
        edges.append(int(width))
        position = int(x) + int(width)
    by_pattern = {pattern: value for value, pattern in enumerate(PATTERNS)}
    symbols = [by_pattern["".join(map(str, edges[i : i + 6]))] for i in range(0, len(edges) - 7, 6)]
    start, *data, _ = symbols
    text = "".join(f"{v:02d}" for v in data) if start == START_C else "".join(chr(v + 32) for v in data)
    assert code128_values(text) == [*symbols, STOP]  # the checksum holds
    return text


def test_an_exact_package_number_opens_the_package(op_client, here):
    package = make_package(Status.PENDING, location=here, number="PKG-0001")
    make_package(Status.PENDING, location=here, number="PKG-00011")
    response = find(op_client, "PKG-0001")
    assert response.status_code == 302 and response["Location"] == detail_url(package)


def test_scanner_whitespace_and_control_characters_are_trimmed(op_client, here):
    package = make_package(Status.PENDING, location=here, number="PKG-0002")
    assert find(op_client, " \x1dPKG-0002\r\n\t")["Location"] == detail_url(package)


def test_an_exact_tracking_number_opens_its_package(op_client, here):
    package = make_package(Status.SHIPPED, location=here, carrier="ACME", tracking_number="BR123456789SP")
    assert find(op_client, "BR123456789SP")["Location"] == detail_url(package)


@pytest.mark.parametrize("number", ["WEB-0001", "12345678"])  # code set B, and C (digit pairs)
def test_the_shipping_tickets_barcodes_open_the_package(op_client, here, number):
    package = make_package(
        Status.SHIPPED, location=here, number=number, carrier="ACME", tracking_number="TRK-777"
    )
    ticket = shipping_ticket_context(Package.objects.select_related("location", "brand").get(pk=package.pk))
    scanned = [decode_code128(ticket["package_barcode"]), decode_code128(ticket["tracking_barcode"])]
    assert scanned == [number, "TRK-777"]
    for code in scanned:
        assert find(op_client, code + "\r")["Location"] == detail_url(package)


def test_an_order_of_one_package_opens_it(op_client, here):
    package = make_package(Status.PENDING, location=here, order_number="ORDER-ONE")
    assert find(op_client, "ORDER-ONE")["Location"] == detail_url(package)


def test_an_order_of_several_packages_opens_the_list_of_that_order(op_client, here):
    first = make_package(Status.PENDING, location=here, order_number="ORDER-TWO")
    second = make_package(Status.IN_PROGRESS, location=here, order_number="ORDER-TWO")
    other = make_package(Status.PENDING, location=here, order_number="ORDER-TWO-B")
    response = find(op_client, "ORDER-TWO")
    assert response["Location"] == f"{LIST_URL}?{urlencode({'order': 'ORDER-TWO'})}"
    page = op_client.get(response["Location"]).content.decode()
    listed = set(re.findall(r'<tr data-package="([^"]+)"', page))
    assert listed == {first.number, second.number} and other.number not in listed
    assert 'data-testid="order-filter"' in page


def test_nothing_exact_opens_the_list_searched_with_it(op_client, here):
    package = make_package(Status.PENDING, location=here, number="PKG-12345")
    response = find(op_client, "PKG-123")
    assert response["Location"] == f"{LIST_URL}?{urlencode({'q': 'PKG-123'})}"
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "No package, order or tracking number is exactly “PKG-123”: the packages containing it are listed."
    ]
    page = op_client.get(response["Location"]).content.decode()
    assert f'data-package="{package.number}"' in page


@pytest.mark.parametrize("field", ["number", "tracking_number", "order_number"])
def test_another_locations_package_is_not_found(op_client, elsewhere, field):
    hidden = make_package(
        Status.SHIPPED,
        location=elsewhere,
        number="FAR-1",
        order_number="FAR-ORDER",
        carrier="ACME",
        tracking_number="FAR-TRK",
    )
    code = getattr(hidden, field)
    response = find(op_client, code)
    assert response["Location"] == f"{LIST_URL}?{urlencode({'q': code})}"
    page = op_client.get(response["Location"]).content.decode()
    assert 'data-package="FAR-1"' not in page and detail_url(hidden) not in page
    assert "No package here" in page


def test_an_empty_scan_opens_the_list(op_client):
    assert find(op_client, " \r\n")["Location"] == LIST_URL


def test_anonymous_is_sent_to_login(client):
    assert find(client, "X")["Location"].startswith(reverse("login"))


def test_the_scan_field_is_on_every_page_and_focused_unless_a_form_asks_for_input(op_client, here):
    package = make_package(Status.PENDING, location=here)
    scan = re.compile(r'<input type="search" name="q" id="scan"[^>]*>')
    for url in (reverse("packages:movements"), LIST_URL, detail_url(package), reverse("transfers:list")):
        field = scan.search(op_client.get(url).content.decode())
        assert field and "autofocus" in field.group(0), url
    form_page = op_client.get(reverse("packages:action", args=[package.number, "block"])).content.decode()
    assert "autofocus" not in scan.search(form_page).group(0)
    assert f'action="{FIND_URL}"' in form_page


# --- any case, long scans, nothing matching ------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "scanned"),
    [
        ({"tracking_number": "BR000000201SP", "carrier": "ACME"}, "br000000201sp"),
        ({"number": "3fa85f6457174562b3fc2c963f66afa6"}, "3FA85F6457174562B3FC2C963F66AFA6"),
        ({"number": "DEMO-TR-0001-1"}, "demo-tr-0001-1"),
        ({"order_number": "WEB-ORDER-77"}, "web-order-77"),
    ],
)
def test_a_scan_in_another_case_opens_the_package(op_client, here, fields, scanned):
    package = make_package(Status.SHIPPED, location=here, **fields)
    assert find(op_client, scanned)["Location"] == detail_url(package)


def test_an_order_scanned_in_another_case_lists_that_order(op_client, here):
    for _ in range(2):
        make_package(Status.PENDING, location=here, order_number="ORDER-TWO")
    response = find(op_client, "order-two")
    assert response["Location"] == f"{LIST_URL}?{urlencode({'order': 'ORDER-TWO'})}"


def test_the_exact_case_wins_over_another_case(op_client, here):
    lower = make_package(Status.PENDING, location=here, number="abc-1")
    upper = make_package(Status.PENDING, location=here, number="ABC-1")
    assert find(op_client, "abc-1")["Location"] == detail_url(lower)
    assert find(op_client, "ABC-1")["Location"] == detail_url(upper)


def test_a_miss_costs_three_indexed_look_ups(django_user_model, here, django_assert_num_queries):
    user = django_user_model.objects.create_user("ines")
    OperatorAssignment.objects.create(user=user, location=here)
    make_package(Status.PENDING, location=here, number="PKG-1")
    with django_assert_num_queries(3):  # number, tracking number, order number
        assert package_find_for_user(user=user, code="nothing-like-it") == ("", [], "")


@pytest.mark.postgres
def test_each_look_up_in_any_case_reads_its_index(django_user_model, here):
    user = django_user_model.objects.create_user("ines")
    OperatorAssignment.objects.create(user=user, location=here)
    make_package(Status.SHIPPED, location=here, number="PKG-1", tracking_number="TRK-1", carrier="ACME")
    with CaptureQueriesContext(connection) as captured:
        package_find_for_user(user=user, code="Nothing-Like-It")
    look_ups = [q["sql"] for q in captured.captured_queries if "packages_package" in q["sql"]]
    plans = []
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for sql in look_ups:
            cursor.execute("EXPLAIN " + sql)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert len(plans) == 3
    for plan, index in zip(
        plans, ("package_number_uniq", "package_tracking_number_idx", "package_order_number_idx"), strict=True
    ):
        assert re.search(rf"Index (Only )?Scan using {index}|Bitmap Index Scan on {index}", plan), plan


def test_nothing_matching_at_all_says_so(op_client, here):
    make_package(Status.PENDING, location=here, number="PKG-12345")
    response = find(op_client, "zz-nowhere")
    assert response["Location"] == f"{LIST_URL}?{urlencode({'q': 'zz-nowhere'})}"
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "No package, order or tracking number matches “zz-nowhere”."
    ]


@pytest.mark.parametrize("length", [SCAN_MAX_CHARS + 1, 17_000])
def test_a_scan_too_long_to_be_any_number_is_refused_without_a_redirect_loop(op_client, length):
    response = find(op_client, "é" * length)
    assert response.status_code == 302 and response["Location"] == LIST_URL
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"The scanned text is {length:,} characters long; no package, order or tracking number is "
        f"longer than {SCAN_MAX_CHARS}. Nothing was looked up."
    ]


def test_the_longest_scan_allowed_still_redirects_to_the_search(op_client):
    code = "😀" * SCAN_MAX_CHARS  # 12 characters each once in the URL
    response = find(op_client, code)
    assert response.status_code == 302 and response["Location"] == f"{LIST_URL}?{urlencode({'q': code})}"
