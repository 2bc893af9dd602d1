"""API: package list (filters, cursor paging), detail, create, status only through actions."""

import datetime as dt

import pytest
from django.utils import timezone

from locations.models import StockLevel
from locations.tests.factories import SkuFactory, StockLocationFactory
from oms.api.testing import api_client
from packages.models import Package, PackageTransition, Status
from packages.tests.factories import BrandFactory
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db


def _numbers(response):
    assert response.status_code == 200, response.json()
    return [p["number"] for p in response.json()["results"]]


def test_list_filters():
    brand = BrandFactory(slug="acme")
    pending = make_package(Status.PENDING, brand=brand, order_number="ORD-A",
                           ship_by=timezone.now() + dt.timedelta(days=1))
    shipped = make_package(Status.SHIPPED, order_number="ORD-B")
    canceled = make_package(Status.CANCELED, location=pending.location,
                            ship_by=timezone.now() + dt.timedelta(days=5))
    client, _ = api_client()
    url = "/api/v1/packages/"
    assert set(_numbers(client.get(url))) == {pending.number, shipped.number, canceled.number}
    assert _numbers(client.get(url, {"status": "100"})) == [pending.number]
    assert _numbers(client.get(url, {"status": "shipped"})) == [shipped.number]
    assert set(_numbers(client.get(url, {"status": "pending,700"}))) == {pending.number, shipped.number}
    assert set(_numbers(client.get(url, {"location": pending.location.code}))) == {pending.number,
                                                                                   canceled.number}
    assert _numbers(client.get(url, {"brand": "acme"})) == [pending.number]
    assert _numbers(client.get(url, {"order_number": "ORD-B"})) == [shipped.number]
    assert _numbers(client.get(url, {"sku": shipped.items.get().sku.code})) == [shipped.number]
    cutoff = (timezone.now() + dt.timedelta(days=2)).isoformat()
    assert _numbers(client.get(url, {"ship_by_before": cutoff})) == [pending.number]
    Package.objects.filter(pk=shipped.pk).update(updated_at=timezone.now() + dt.timedelta(hours=1))
    since = (timezone.now() + dt.timedelta(minutes=30)).isoformat()
    assert _numbers(client.get(url, {"updated_since": since})) == [shipped.number]


@pytest.mark.parametrize("params", [{"status": "nope"}, {"status": "101"}, {"status": ","},
                                    {"updated_since": "yesterday"}, {"cursor": "garbage"},
                                    {"cursor": "cD1hYmM="},  # "p=abc"
                                    {"statuss": "100"}, {"page_size": "0"}])
def test_bad_filters_are_400(params):
    client, _ = api_client()
    response = client.get("/api/v1/packages/", params)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"


def test_list_is_scoped_to_the_token_locations():
    mine = make_package(Status.PENDING)
    make_package(Status.PENDING)  # elsewhere
    client, _ = api_client(locations=[mine.location])
    assert _numbers(client.get("/api/v1/packages/")) == [mine.number]


def test_paging_through_1000_packages_with_identical_timestamps_returns_each_once():
    location, brand = StockLocationFactory(), BrandFactory(slug="paging")
    same = timezone.now()
    Package.objects.bulk_create(
        Package(number=f"P-{i:04d}", order_number="ORD", brand=brand, location=location,
                status=Status.PENDING, status_changed_at=same, placed_at=same)
        for i in range(1000))
    Package.objects.update(created_at=same, updated_at=same)
    client, _ = api_client()
    seen, url, pages = [], "/api/v1/packages/?page_size=97", 0
    while url:
        response = client.get(url)
        seen += _numbers(response)
        url = response.json()["next"]
        pages += 1
        if pages == 3:  # rows added while paging do not shift the pages
            Package.objects.create(number="P-late", order_number="ORD", brand=brand,
                                   location=location, status=Status.PENDING)
    expected = [f"P-{i:04d}" for i in range(1000)] + ["P-late"]
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(set(seen)) == 1001


def test_list_needs_a_fixed_number_of_queries(django_assert_max_num_queries):
    for state in (Status.PENDING, Status.SHIPPED, Status.PRODUCT_OUT_OF_STOCK):
        for _ in range(5):
            make_package(state, quantities=(1, 2))
    client, _ = api_client()
    with django_assert_max_num_queries(6):  # token, last_used, count-free cursor page, items
        response = client.get("/api/v1/packages/")
    assert len(response.json()["results"]) == 15


def test_list_of_replacement_packages_needs_no_query_per_package(django_assert_max_num_queries):
    """Regression: ``replaces.number`` in the list cost one query per replacement package."""
    for _ in range(5):
        canceled = make_package(Status.CANCELED)
        replacement = make_package(Status.PENDING)
        Package.objects.filter(pk=replacement.pk).update(replaces=canceled)
    client, _ = api_client()
    with django_assert_max_num_queries(6):  # as above: independent of the page's replacements
        response = client.get("/api/v1/packages/")
    replaced = [p["replaces"] for p in response.json()["results"] if p["replaces"]]
    assert len(replaced) == 5


def test_detail_shows_items_allowed_actions_history_and_waiting_reason():
    location = StockLocationFactory()
    sku = SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=0)
    client, _ = api_client()
    response = client.post("/api/v1/packages/", {
        "order_number": "ORD-1", "brand": BrandFactory(slug="b").slug, "location": location.code,
        "delivery_type": "ship", "items": [{"sku": sku.code, "quantity": 2}]}, format="json")
    assert response.status_code == 201, response.json()
    number = response.json()["number"]
    data = client.get(f"/api/v1/packages/{number}/").json()
    assert data["status"] == {"code": 920, "slug": "product_out_of_stock", "label": "Product Out of Stock"}
    assert data["items"] == [{"sku": sku.code, "quantity": 2, "unit_price": None, "freight_value": None}]
    assert data["allowed_actions"] == ["reschedule", "reassign_location", "split", "cancel", "block"]
    assert data["blocked"] is None
    assert data["waiting_reason"]["kind"] == "out_of_stock"
    assert "needs 2, has 0" in data["waiting_reason"]["shortage"]
    assert data["transitions"][0]["action"] == "create"
    assert data["transitions"][0]["from_status"] is None
    assert data["transitions"][0]["actor"].startswith("api:")


def test_create_starts_pending_when_stock_is_there():
    location, sku = StockLocationFactory(), SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=5)
    client, _ = api_client()
    response = client.post("/api/v1/packages/", {
        "order_number": "ORD-2", "brand": BrandFactory(slug="b2").slug, "location": location.code,
        "delivery_type": "click_and_collect", "ship_by": "2026-12-24T18:00:00Z",
        "items": [{"sku": sku.code, "quantity": 2}]}, format="json")
    assert response.status_code == 201
    data = response.json()
    assert data["status"]["slug"] == "pending"
    assert data["delivery_type"] == "click_and_collect"
    assert data["ship_by"] == "2026-12-24T18:00:00Z"
    assert response["Location"] == f"/api/v1/packages/{data['number']}/"
    assert response["ETag"] == '"1"'
    assert StockLevel.objects.get(location=location, sku=sku).reserved == 2


def test_create_starts_pending_transfer_when_another_location_has_it():
    location, elsewhere, sku = StockLocationFactory(), StockLocationFactory(), SkuFactory()
    StockLevel.objects.create(location=elsewhere, sku=sku, on_hand=5)
    client, _ = api_client()
    response = client.post("/api/v1/packages/", {
        "order_number": "ORD-3", "brand": BrandFactory(slug="b3").slug, "location": location.code,
        "delivery_type": "ship", "items": [{"sku": sku.code, "quantity": 1}]}, format="json")
    assert response.status_code == 201
    data = response.json()
    assert data["status"]["slug"] == "pending_transfer"
    assert data["waiting_reason"]["kind"] == "transfers"
    assert data["waiting_reason"]["open_transfers"][0]["source"] == elsewhere.code


@pytest.mark.parametrize("change, field", [
    ({"brand": "nope"}, "brand"),
    ({"location": "nope"}, "location"),
    ({"delivery_type": "drone"}, "delivery_type"),
    ({"items": []}, "items"),
    ({"items": [{"sku": "NOPE", "quantity": 1}]}, "items"),
    ({"items": [{"sku": "S", "quantity": 0}]}, "items.0.quantity"),
    ({"order_number": "-starts-with-a-dash"}, "order_number"),
    ({"items": [{"sku": "S", "quantity": 1}, {"sku": "S", "quantity": 1}]}, "items"),
    ({"status": 700}, "status"),
    ({"number": "MINE"}, "number"),
    ({"ship_by": "soon"}, "ship_by"),
    # Regression: a time without its offset was read as UTC.
    ({"ship_by": "2026-12-09T00:00:00"}, "ship_by"),
    ({"order_number": "x" * 65}, "order_number"),
])
def test_create_refuses_bad_input(change, field):
    location = StockLocationFactory()
    sku = SkuFactory(code="S")
    StockLevel.objects.create(location=location, sku=sku, on_hand=5)
    BrandFactory(slug="b4")
    client, _ = api_client()
    body = {"order_number": "ORD-4", "brand": "b4", "location": location.code, "delivery_type": "ship",
            "items": [{"sku": "S", "quantity": 1}], **change}
    response = client.post("/api/v1/packages/", body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    assert not Package.objects.exists()


def test_create_outside_the_token_scope_is_refused():
    mine, theirs, sku = StockLocationFactory(), StockLocationFactory(), SkuFactory()
    client, _ = api_client(locations=[mine])
    response = client.post("/api/v1/packages/", {
        "order_number": "ORD-5", "brand": BrandFactory(slug="b5").slug, "location": theirs.code,
        "delivery_type": "ship", "items": [{"sku": sku.code, "quantity": 1}]}, format="json")
    assert response.status_code == 400 and "location" in response.json()["errors"]
    assert not Package.objects.exists()


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_writing_a_package_is_405_pointing_at_the_actions(method):
    # Not served, so not in the schema: 405 with Allow, the status included.
    package = make_package(Status.PENDING)
    client, _ = api_client()
    url = f"/api/v1/packages/{package.number}/"
    for body in ({"status": 700}, {"carrier": "x"}):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 405
        assert response["Allow"] == "GET, HEAD, OPTIONS"
        assert response.json()["code"] == "method_not_allowed"
        assert "/actions/{action}/" in response.json()["detail"]
    package.refresh_from_db()
    assert package.status == Status.PENDING and package.version == 1
    assert not PackageTransition.objects.exists()


def test_unknown_package_is_404_and_odd_numbers_do_not_crash():
    client, _ = api_client()
    assert client.get("/api/v1/packages/NOPE/").status_code == 404
    assert client.get("/api/v1/packages/%00/").status_code == 404
    assert client.get("/api/v1/packages/" + "x" * 150 + "/").status_code == 404


def test_brands_and_denial_reasons():
    BrandFactory(slug="quiet", disabled_actions=["cancel"], requires_invoice=True)
    client, _ = api_client()
    brand = client.get("/api/v1/brands/quiet/").json()
    assert brand["requires_invoice"] is True and brand["disabled_actions"] == ["cancel"]
    assert "cancel" not in brand["enabled_actions"] and "ship" in brand["enabled_actions"]
    assert client.get("/api/v1/brands/").json()["results"][0]["slug"] == "quiet"
    assert client.get("/api/v1/brands/none/").status_code == 404
    assert client.get("/api/v1/denial-reasons/").status_code == 200


@pytest.mark.parametrize("value", ["0879-01-01T15:59:42.09940-16:14", "0001-01-01T00:00:00+05:00",
                                   "9999-12-31T23:59:59-05:00"])
def test_datetime_filters_with_extreme_offsets_are_handled(value):
    client, _ = api_client()
    response = client.get("/api/v1/packages/", {"updated_since": value})
    assert response.status_code in (200, 400), response.content
