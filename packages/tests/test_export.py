"""CSV export of the package list: the rows of the filtered list exactly, within the user's
locations, formula injection neutralised, times with their offset, streamed in a constant
number of queries."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from locations.models import OperatorAssignment
from locations.tests.factories import StockLocationFactory
from oms import csv_export
from packages.export import PACKAGE_CSV_HEADER
from packages.models import Package, Status
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db

EXPORT = reverse("packages:export")


@pytest.fixture
def there():
    return StockLocationFactory(code="THERE", name="There Store")


@pytest.fixture
def op_client(client, django_user_model, here, there):
    user = django_user_model.objects.create_user("olivia")
    for location in (here, there):
        OperatorAssignment.objects.create(user=user, location=location)
    client.force_login(user)
    return client


def read_csv(response) -> list[dict]:
    assert response.status_code == 200, response
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body[1:])))
    assert tuple(rows[0]) == PACKAGE_CSV_HEADER
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


@pytest.fixture
def mix(here, there, elsewhere):
    """Packages in several states at the user's two locations and one at another location."""
    past = timezone.now() - dt.timedelta(days=2)
    make_package(Status.PENDING, location=here, number="P-HERE-1", order_number="ORD-7",
                 ship_by=past)
    make_package(Status.PENDING, location=here, number="P-HERE-2", order_number="ORD-8")
    make_package(Status.IN_PROGRESS, location=here, number="P-HERE-3", order_number="ORD-77",
                 blocked_at=past, block_reason="damaged box")
    make_package(Status.PENDING, location=there, number="P-THERE-1", order_number="ORD-9",
                 tracking_number="TRK-77", ship_by=timezone.now() + dt.timedelta(days=1))
    make_package(Status.SHIPPED, location=there, number="P-THERE-2", order_number="ORD-10",
                 ship_by=past, carrier="acme", tracking_number="TRK-1")
    make_package(Status.PENDING, location=elsewhere, number="P-ELSEWHERE-1", order_number="ORD-7")


@pytest.mark.parametrize("params", [
    {},
    {"status": "pending"},
    {"location": "HERE", "status": "pending"},
    {"q": "77"},
    {"location": "THERE", "q": "trk"},
    {"blocked": "true"},
    {"blocked": "false", "sort": "ship_by"},
    {"sort": "number"},
    {"status": "pending", "sort": "recent", "q": "ORD-7"},
    {"late": "true"},
    {"late": "false", "location": "THERE"},
    {"late": "true", "status": "pending", "location": "HERE", "q": "P-HERE"},
    {"open": "true", "age": "lt1h", "sort": "ship_by"},
    {"order": "ORD-7"},
])
def test_export_has_exactly_the_rows_of_the_list_in_its_order(op_client, mix, params):
    listed = op_client.get(reverse("packages:list"), params).context["page_obj"].paginator.object_list
    rows = read_csv(op_client.get(EXPORT, params))
    assert [row["number"] for row in rows] == [p.number for p in listed]
    assert rows, "every filter above matches some package"


def test_export_never_shows_another_locations_packages(op_client, mix):
    numbers = {row["number"] for row in read_csv(op_client.get(EXPORT, {"q": "ORD-7"}))}
    assert numbers == {"P-HERE-1", "P-HERE-3"}
    assert all("ELSEWHERE" not in row["number"] for row in read_csv(op_client.get(EXPORT)))
    assert op_client.get(EXPORT, {"location": "ELSEWHERE"}).status_code == 404


def test_export_needs_login(client):
    response = client.get(EXPORT)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_export_columns_of_a_package(op_client, here, settings):
    settings.TIME_ZONE = "America/Sao_Paulo"
    ship_by = dt.datetime(2026, 12, 6, 13, 15, tzinfo=dt.UTC)
    package = make_package(Status.PENDING, location=here, number="P-1", order_number="ORD-1",
                           quantities=(2, 3), ship_by=ship_by, carrier="acme", tracking_number="TRK-9")
    [row] = read_csv(op_client.get(EXPORT))
    assert row["ship_by"] == "2026-12-06T10:15:00-03:00"
    assert {k: row[k] for k in ("number", "order_number", "status", "status_slug", "location_code",
                                "location_name", "brand", "carrier", "tracking_number", "units",
                                "blocked_at")} == {
        "number": "P-1", "order_number": "ORD-1", "status": "Pending", "status_slug": "pending",
        "location_code": "HERE", "location_name": "Here Warehouse", "brand": package.brand.name,
        "carrier": "acme", "tracking_number": "TRK-9", "units": "5", "blocked_at": ""}
    for field, value in (("status_changed_at", package.status_changed_at),
                         ("created_at", package.created_at), ("ship_by", ship_by)):
        parsed = dt.datetime.fromisoformat(row[field])
        assert parsed.utcoffset() == dt.timedelta(hours=-3) and parsed == value, field


def test_export_flags_late_and_blocked_packages(op_client, mix):
    rows = {row["number"]: row for row in read_csv(op_client.get(EXPORT))}
    assert rows["P-HERE-1"]["late"] == "yes"  # ship-by passed, still at the location
    assert rows["P-THERE-2"]["late"] == "no"  # shipped: ship-by no longer matters
    assert rows["P-THERE-1"]["late"] == "no"
    blocked_at = Package.objects.get(number="P-HERE-3").blocked_at
    assert dt.datetime.fromisoformat(rows["P-HERE-3"]["blocked_at"]) == blocked_at


def test_export_neutralises_formulas_an_integrator_controls(op_client, here):
    make_package(Status.PENDING, location=here, number="@SUM(A1)", order_number='=HYPERLINK("x")',
                 tracking_number="+1", carrier="-2")
    [row] = read_csv(op_client.get(EXPORT))
    assert row["order_number"] == "'=HYPERLINK(\"x\")"
    assert (row["number"], row["tracking_number"], row["carrier"]) == ("'@SUM(A1)", "'+1", "'-2")


def test_export_is_a_streamed_dated_attachment(op_client, here):
    make_package(Status.PENDING, location=here)
    response = op_client.get(EXPORT)
    assert response.streaming is True
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="packages-{timezone.localdate().isoformat()}.csv"')
    read_csv(response)


def test_export_sends_the_rows_in_pieces(op_client, here, monkeypatch):
    monkeypatch.setattr(csv_export, "CHUNK_BYTES", 200)
    for _ in range(20):
        make_package(Status.PENDING, location=here, quantities=())
    pieces = list(op_client.get(EXPORT).streaming_content)
    assert len(pieces) > 5
    assert b"".join(pieces).decode("utf-8").count("\r\n") == 21


def test_export_query_count_does_not_grow_with_rows(op_client, here, django_assert_max_num_queries):
    make_package(Status.PENDING, location=here)
    # session, user, location; the rows (in the response's transaction: a savepoint here)
    with django_assert_max_num_queries(6) as few:
        assert len(read_csv(op_client.get(EXPORT, {"location": "HERE"}))) == 1
    for _ in range(30):
        make_package(Status.PENDING, location=here, quantities=(1, 2))
    with django_assert_max_num_queries(len(few)):
        assert len(read_csv(op_client.get(EXPORT, {"location": "HERE"}))) == 31


def test_list_links_to_the_export_with_its_filters(op_client, here):
    make_package(Status.PENDING, location=here, number="P-1")
    params = {"location": "HERE", "status": "pending", "q": "P-", "page": "1"}
    html = op_client.get(reverse("packages:list"), params).content.decode()
    assert f'href="{EXPORT}?location=HERE&amp;status=pending&amp;q=P-"' in html
    fragment = op_client.get(reverse("packages:list"), {"q": "P-1"},
                             headers={"HX-Request": "true", "HX-Target": "package-results"})
    assert f'href="{EXPORT}?q=P-1"' in fragment.content.decode()


def test_export_times_use_the_zone_active_in_the_view_not_while_streaming(op_client, here):
    make_package(Status.PENDING, location=here)
    with timezone.override("America/Sao_Paulo"):  # e.g. set by a middleware for the request
        response = op_client.get(EXPORT)
    [row] = read_csv(response)  # read after the request's zone is gone
    assert dt.datetime.fromisoformat(row["created_at"]).utcoffset() == dt.timedelta(hours=-3)


@pytest.mark.parametrize("bad", [{"status": "bogus"}, {"age": "bogus"}, {"blocked": "yes"}, {"late": "no"}])
def test_a_filter_not_understood_exports_nothing(op_client, here, bad):
    make_package(Status.PENDING, location=here)
    response = op_client.get(EXPORT, bad)
    assert response.status_code == 400 and not response.streaming
    name, value = next(iter(bad.items()))
    assert f"Filter not understood: {name}={value}. Nothing was exported" in response.content.decode()


@pytest.mark.parametrize("bad", [{"status": "bogus"}, {"age": "bogus"}, {"blocked": "yes"},
                                 {"status": "bogus", "open": "1"}])
def test_the_list_names_a_filter_not_understood_and_offers_no_select_all_nor_export(op_client, here, bad):
    make_package(Status.PENDING, location=here)
    make_package(Status.IN_PROGRESS, location=here)
    html = op_client.get(reverse("packages:list"), bad).content.decode()
    warning = html.split('data-testid="invalid-filters"')[1].split("</p>")[0]
    assert "Filter not understood, ignored: " + ", ".join(f"{k}={v}" for k, v in bad.items()) in warning
    assert 'name="all_matching"' not in html and 'data-testid="export-csv"' not in html
    assert html.count('name="selected" value=') == 2  # the rows can still be ticked one by one
    good = op_client.get(reverse("packages:list"), {"status": "pending"}).content.decode()
    assert 'data-testid="invalid-filters"' not in good and 'name="all_matching"' in good
