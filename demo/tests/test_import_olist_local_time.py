"""Olist's naive timestamps are São Paulo wall-clock times; its sellers' locations get that zone."""

import datetime as dt

import pytest
from django.urls import reverse

from demo.olist_import import SOURCE_TIME_ZONE, olist_import
from locations.models import StockLocation
from oms.events.models import OutboxEvent
from packages.models import Package

pytestmark = pytest.mark.django_db

ITEMS_HEADER = "order_id,order_item_id,product_id,seller_id,shipping_limit_date,price,freight_value\n"
NOW = dt.datetime(2026, 3, 4, 15, 0, tzinfo=dt.UTC)  # a Wednesday; Brazil has no summer time now


def _files(directory, *item_rows: str):
    (directory / "sellers.csv").write_text(
        "seller_id,seller_zip_code_prefix,seller_city,seller_state\ns1,13023,Campinas,SP\n"
    )
    (directory / "products.csv").write_text("product_id,product_category_name\np1,toys\n")
    (directory / "order_items.csv").write_text(ITEMS_HEADER + "".join(f"{row}\n" for row in item_rows))


def test_shipping_limit_date_is_read_in_sao_paulo_and_shown_there(tmp_path, client, django_user_model):
    _files(tmp_path, "o1,1,p1,s1,2018-05-03 10:15:00,58.90,13.29")

    olist_import(directory=tmp_path)

    package = Package.objects.get(number="o1-1")
    assert package.ship_by == dt.datetime(2018, 5, 3, 13, 15, tzinfo=dt.UTC)
    location = StockLocation.objects.get(code="s1")
    assert location.time_zone == "America/Sao_Paulo"
    event = OutboxEvent.objects.get(type="stock_location.created")
    assert event.payload["stock_location"]["time_zone"] == "America/Sao_Paulo"
    client.force_login(django_user_model.objects.create_user("boss", is_staff=True))
    html = client.get(reverse("packages:detail", args=[package.number])).content.decode()
    assert '<dt>Ship by</dt><dd><time datetime="2018-05-03T13:15:00Z"' in html
    assert ">2018-05-03 10:15 -03 (America/Sao_Paulo)</time>" in html


def test_shift_dates_keeps_the_sao_paulo_weekday_and_time_of_day_across_summer_time(tmp_path):
    # 2018-01-10 was summer time in São Paulo (-02); 2026 has none (-03).
    _files(
        tmp_path, "o1,1,p1,s1,2018-01-10 10:00:00,58.90,13.29", "o2,1,p1,s1,2017-09-19 09:45:35,58.90,13.29"
    )

    report = olist_import(directory=tmp_path, shift_dates=True, now=NOW)

    newest = Package.objects.get(number="o1-1").ship_by
    older = Package.objects.get(number="o2-1").ship_by
    assert report.ship_by_shift.days % 7 == 0 and report.ship_by_shift.seconds == 0
    assert NOW <= newest < NOW + dt.timedelta(days=7)
    assert newest.astimezone(SOURCE_TIME_ZONE).strftime("%a %H:%M") == "Wed 10:00"  # as in the file
    assert older.astimezone(SOURCE_TIME_ZONE).strftime("%a %H:%M:%S") == "Tue 09:45:35"
    assert newest == dt.datetime(2026, 3, 11, 13, 0, tzinfo=dt.UTC) and report.newest_ship_by == newest
