"""API: stock levels (read, bulk set)."""

import pytest

from locations.models import StockLevel
from locations.tests.factories import SkuFactory, StockLocationFactory
from oms.api.testing import api_client
from packages.models import Status
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db


def test_get_stock_filters_and_scope():
    a, b = StockLocationFactory(), StockLocationFactory()
    sku, other = SkuFactory(), SkuFactory()
    StockLevel.objects.create(location=a, sku=sku, on_hand=5, reserved=2)
    StockLevel.objects.create(location=a, sku=other, on_hand=1)
    StockLevel.objects.create(location=b, sku=sku, on_hand=3)
    client, _ = api_client()
    rows = client.get("/api/v1/stock/", {"location": a.code, "sku": sku.code}).json()["results"]
    assert rows == [{"location": a.code, "sku": sku.code, "on_hand": 5, "reserved": 2, "damaged": 0,
                     "available": 3, "updated_at": rows[0]["updated_at"]}]
    scoped, _ = api_client(locations=[b])
    assert [r["location"] for r in scoped.get("/api/v1/stock/").json()["results"]] == [b.code]


def test_post_stock_sets_on_hand_in_bulk(django_capture_on_commit_callbacks):
    location, sku, new_sku = StockLocationFactory(), SkuFactory(), SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=5)
    client, _ = api_client()
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/api/v1/stock/", [
            {"location": location.code, "sku": sku.code, "on_hand": 9},
            {"location": location.code, "sku": new_sku.code, "on_hand": 0},
        ], format="json")
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["count"] == 2
    assert [(r["sku"], r["on_hand"]) for r in data["results"]] == [(sku.code, 9), (new_sku.code, 0)]
    assert StockLevel.objects.get(location=location, sku=sku).on_hand == 9
    assert StockLevel.objects.get(location=location, sku=new_sku).on_hand == 0
    assert callbacks, "a rise queues the out-of-stock re-check after commit"


def test_stock_rise_reschedules_waiting_packages(django_capture_on_commit_callbacks):
    package = make_package(Status.PRODUCT_OUT_OF_STOCK, quantities=(2,), on_hand=0)
    sku = package.items.get().sku
    client, _ = api_client()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/stock/", [{"location": package.location.code, "sku": sku.code,
                                                   "on_hand": 2}], format="json")
    assert response.status_code == 200
    package.refresh_from_db()
    assert package.status == Status.IN_PROGRESS  # the re-check ran (eager Celery in tests)


def test_below_reserved_is_refused_naming_the_row_and_nothing_changes():
    location, sku, other = StockLocationFactory(), SkuFactory(), SkuFactory()
    StockLevel.objects.create(location=location, sku=sku, on_hand=5, reserved=4)
    StockLevel.objects.create(location=location, sku=other, on_hand=5)
    client, _ = api_client()
    response = client.post("/api/v1/stock/", [
        {"location": location.code, "sku": other.code, "on_hand": 1},
        {"location": location.code, "sku": sku.code, "on_hand": 3},
    ], format="json")
    assert response.status_code == 400
    data = response.json()
    assert list(data["errors"]) == ["1.on_hand"]
    assert "below the 4 units reserved" in data["errors"]["1.on_hand"][0]
    assert "row 1" in data["detail"]
    assert StockLevel.objects.get(location=location, sku=other).on_hand == 5  # all or nothing


@pytest.mark.parametrize("body, index, field", [
    ([{"location": "NOPE", "sku": "S1", "on_hand": 1}], "0", "location"),
    ([{"location": "L1", "sku": "NOPE", "on_hand": 1}], "0", "sku"),
    ([{"location": "L1", "sku": "S1", "on_hand": -1}], "0", "on_hand"),
    ([{"location": "L1", "sku": "S1", "on_hand": 1},
      {"location": "L1", "sku": "S1", "on_hand": 2}], "1", "sku"),
    ([{"location": "L1", "sku": "S1", "on_hand": 1, "reserved": 0}], "0", "reserved"),
])
def test_bad_rows_are_400_with_row_errors(body, index, field):
    location, sku = StockLocationFactory(code="L1"), SkuFactory(code="S1")
    StockLevel.objects.create(location=location, sku=sku, on_hand=5)
    client, _ = api_client()
    response = client.post("/api/v1/stock/", body, format="json")
    assert response.status_code == 400, response.json()
    assert f"{index}.{field}" in response.json()["errors"]
    assert StockLevel.objects.get().on_hand == 5


@pytest.mark.parametrize("body", [[], {"location": "L1"}, "x"])
def test_stock_body_must_be_a_list_of_rows(body):
    client, _ = api_client()
    response = client.post("/api/v1/stock/", body, format="json")
    assert response.status_code == 400


def test_stock_outside_scope_and_read_only():
    mine, theirs, sku = StockLocationFactory(), StockLocationFactory(), SkuFactory()
    client, _ = api_client(locations=[mine])
    response = client.post("/api/v1/stock/", [{"location": theirs.code, "sku": sku.code, "on_hand": 1}],
                           format="json")
    assert response.status_code == 400 and "0.location" in response.json()["errors"]
    reader, _ = api_client(read_only=True)
    response = reader.post("/api/v1/stock/", [{"location": mine.code, "sku": sku.code, "on_hand": 1}],
                           format="json")
    assert response.status_code == 403
    assert not StockLevel.objects.exists()
