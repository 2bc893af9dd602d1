"""CSV export of the transfer list: the rows of the filtered list exactly, only transfers
touching the user's locations, formulas neutralised, times with their offset, streamed in a
constant number of queries."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from locations.models import OperatorAssignment
from locations.tests.factories import StockLocationFactory
from packages.models import Status as PackageStatus
from packages.tests.helpers import make_package
from transfers.export import TRANSFER_CSV_HEADER
from transfers.models import Status
from transfers.tests.factories import make_transfer

pytestmark = pytest.mark.django_db

EXPORT = reverse("transfers:export")


@pytest.fixture
def places():
    return (StockLocationFactory(code="SRC", name="Source"), StockLocationFactory(code="DST", name="Dest"),
            StockLocationFactory(code="FAR", name="Far away"))


@pytest.fixture
def op_client(client, django_user_model, places):
    user = django_user_model.objects.create_user("olivia")
    OperatorAssignment.objects.create(user=user, location=places[1])
    client.force_login(user)
    return client


def transfer_to(destination, source, status=Status.WAITING, number=None):
    package = make_package(PackageStatus.PENDING_TRANSFER, location=destination, quantities=(),
                           number=number)
    return make_transfer(status, package=package, source=source)


def read_csv(response) -> list[dict]:
    assert response.status_code == 200, response
    assert response.streaming is True
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert tuple(rows[0]) == TRANSFER_CSV_HEADER
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


@pytest.fixture
def mix(places):
    src, dst, far = places
    transfer_to(dst, src, Status.WAITING, number="PK-IN-1")
    transfer_to(dst, src, Status.IN_TRANSIT, number="PK-IN-2")
    transfer_to(dst, far, Status.WAITING, number="PK-IN-3")
    transfer_to(src, dst, Status.WAITING, number="PK-OUT-1")
    transfer_to(src, far, Status.WAITING, number="PK-NOT-MINE")


@pytest.mark.parametrize("params", [
    {},
    {"location": "DST", "direction": "incoming", "status": "waiting"},
    {"location": "DST", "direction": "outgoing"},
    {"status": "in_transit"},
    {"q": "PK-IN", "sort": "number"},
    {"sort": "recent"},
])
def test_export_has_exactly_the_rows_of_the_list_in_its_order(op_client, mix, params):
    listed = op_client.get(reverse("transfers:list"), params).context["page_obj"].paginator.object_list
    rows = read_csv(op_client.get(EXPORT, params))
    assert [row["number"] for row in rows] == [t.number for t in listed]
    assert rows


def test_export_never_shows_transfers_between_other_locations(op_client, mix):
    rows = read_csv(op_client.get(EXPORT))
    assert len(rows) == 4 and all(row["package_number"] != "PK-NOT-MINE" for row in rows)
    assert op_client.get(EXPORT, {"location": "FAR"}).status_code == 404


def test_export_columns_of_a_transfer(op_client, places, settings):
    settings.TIME_ZONE = "America/Sao_Paulo"
    src, dst, _ = places
    transfer = transfer_to(dst, src, Status.IN_TRANSIT, number="PK-1")
    [row] = read_csv(op_client.get(EXPORT))
    assert {k: v for k, v in row.items() if not k.endswith("_at")} == {
        "number": transfer.number, "status": "In Transit", "status_slug": "in_transit",
        "from_code": "SRC", "from_name": "Source", "to_code": "DST", "to_name": "Dest",
        "package_number": "PK-1", "carrier": "", "tracking_number": "", "items": "1"}
    for field in ("created_at", "status_changed_at"):
        value = getattr(transfer, field)
        parsed = dt.datetime.fromisoformat(row[field])
        assert parsed.utcoffset() == dt.timedelta(hours=-3) and parsed == value


def test_export_neutralises_formulas(op_client, places):
    src, dst, _ = places
    transfer = transfer_to(dst, src, number="=cmd|' /C calc'!A0")
    transfer.tracking_number = "\tTRK"
    transfer.save(update_fields=["tracking_number"])
    [row] = read_csv(op_client.get(EXPORT))
    assert row["package_number"] == "'=cmd|' /C calc'!A0"
    assert row["tracking_number"] == "'\tTRK"


def test_export_is_a_dated_attachment(op_client, mix):
    response = op_client.get(EXPORT)
    assert response["Content-Disposition"] == (
        f'attachment; filename="transfers-{timezone.localdate().isoformat()}.csv"')


def test_export_query_count_does_not_grow_with_rows(op_client, places, django_assert_max_num_queries):
    src, dst, _ = places
    transfer_to(dst, src)
    with django_assert_max_num_queries(6) as few:
        assert len(read_csv(op_client.get(EXPORT, {"location": "DST"}))) == 1
    for _ in range(20):
        transfer_to(dst, src)
    with django_assert_max_num_queries(len(few)):
        assert len(read_csv(op_client.get(EXPORT, {"location": "DST"}))) == 21


def test_list_links_to_the_export_with_its_filters(op_client, mix):
    html = op_client.get(reverse("transfers:list"), {"location": "DST", "direction": "incoming",
                                                     "page": "1"}).content.decode()
    assert f'href="{EXPORT}?location=DST&amp;direction=incoming"' in html


def test_export_times_use_the_zone_active_in_the_view(op_client, places):
    src, dst, _ = places
    transfer_to(dst, src)
    with timezone.override("Asia/Kolkata"):
        response = op_client.get(EXPORT)
    [row] = read_csv(response)
    assert row["created_at"].endswith("+05:30")


@pytest.mark.parametrize("bad", [{"status": "bogus"}, {"direction": "sideways"}])
def test_a_filter_not_understood_exports_nothing_and_the_list_says_so(op_client, mix, bad):
    response = op_client.get(EXPORT, bad)
    assert response.status_code == 400 and not response.streaming
    name, value = next(iter(bad.items()))
    assert f"Filter not understood: {name}={value}. Nothing was exported" in response.content.decode()
    html = op_client.get(reverse("transfers:list"), bad).content.decode()
    warning = html.split('data-testid="invalid-filters"')[1].split("</p>")[0]
    assert f"Filter not understood, ignored: {name}={value}" in warning
    assert 'data-testid="export-csv"' not in html
