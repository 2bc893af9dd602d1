"""Ageing on the location dashboards: open packages by time in their current state and the
packages past ship-by, per location, in one query; each figure opens the package list
filtered the same way (``open``, ``age``, ``late``)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from locations.models import OperatorAssignment
from locations.tests.factories import StockLocationFactory
from packages.models import Status
from packages.selectors import AGE_BUCKETS, package_ageing_by_location, package_search
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
M = dt.timedelta(minutes=1)
H = dt.timedelta(hours=1)


@pytest.fixture
def here():
    return StockLocationFactory(code="HERE")


@pytest.fixture
def boss(django_user_model):
    return django_user_model.objects.create_user("boss", password="pw", is_staff=True)


def aged(location, delta, status=Status.PENDING, **fields):
    return make_package(status, location=location, status_changed_at=NOW - delta, **fields)


# --- buckets ------------------------------------------------------------------------------------

BOUNDARIES = [  # time in state -> bucket
    (dt.timedelta(0), "lt1h"), (59 * M, "lt1h"), (60 * M, "1-4h"), (4 * H - M, "1-4h"),
    (4 * H, "4-24h"), (24 * H - M, "4-24h"), (24 * H, "gt24h"), (30 * 24 * H, "gt24h"),
]


@pytest.mark.parametrize("delta,bucket", BOUNDARIES)
def test_bucket_boundaries(here, delta, bucket):
    aged(here, delta)
    counts = package_ageing_by_location(location_ids=[here.pk], now=NOW)[here.pk]
    assert counts == {**dict.fromkeys(AGE_BUCKETS, 0), bucket: 1, "late": 0}


def test_the_list_filter_and_the_count_agree_at_every_boundary(here, boss):
    by_bucket = {key: set() for key in AGE_BUCKETS}
    for delta, bucket in BOUNDARIES:
        by_bucket[bucket].add(aged(here, delta).number)
    counts = package_ageing_by_location(location_ids=[here.pk], now=NOW)[here.pk]
    for key, numbers in by_bucket.items():
        listed = package_search(user=boss, location_id=here.pk, open_only=True, age=key, now=NOW)
        assert {p.number for p in listed} == numbers and counts[key] == len(numbers), key


def test_only_open_packages_are_aged(here):
    for status in Status.values:
        aged(here, 2 * H, status=status)
    counts = package_ageing_by_location(location_ids=[here.pk], now=NOW)[here.pk]
    # open: Pending, In Progress, Pending Transfer, Ready to Packaging, Pending Cancellation
    assert counts["1-4h"] == 5 and sum(counts[key] for key in AGE_BUCKETS) == 5


def test_past_ship_by_counts_packages_not_handed_over(here):
    past, future = NOW - M, NOW + M
    aged(here, H, ship_by=past)  # Pending, late
    aged(here, H, status=Status.PACKAGING_COMPLETED, ship_by=past)  # not open, still late
    aged(here, H, status=Status.PENDING_INVOICE, ship_by=past)
    aged(here, H, status=Status.SHIPPED, ship_by=past)  # with the carrier: not late
    aged(here, H, status=Status.CANCELED, ship_by=past)
    aged(here, H, ship_by=future)
    aged(here, H, ship_by=None)
    aged(here, H, ship_by=NOW)  # due this instant: not past yet
    assert package_ageing_by_location(location_ids=[here.pk], now=NOW)[here.pk]["late"] == 3


def test_other_locations_are_not_counted(here):
    other, empty = StockLocationFactory(code="OTHER"), StockLocationFactory(code="EMPTY")
    aged(here, 10 * M)
    aged(other, 2 * H, ship_by=NOW - H)
    aged(other, 2 * H)
    result = package_ageing_by_location(location_ids=[here.pk, empty.pk], now=NOW)
    assert set(result) == {here.pk, empty.pk}
    assert result[here.pk] == {"lt1h": 1, "1-4h": 0, "4-24h": 0, "gt24h": 0, "late": 0}
    assert result[empty.pk] == {"lt1h": 0, "1-4h": 0, "4-24h": 0, "gt24h": 0, "late": 0}


def test_one_query_whatever_the_number_of_locations(django_assert_num_queries):
    locations = [StockLocationFactory() for _ in range(12)]
    for index, location in enumerate(locations):
        aged(location, index * 3 * H, ship_by=NOW - H)
    with django_assert_num_queries(1):
        package_ageing_by_location(location_ids=[locations[0].pk], now=NOW)
    with django_assert_num_queries(1):
        result = package_ageing_by_location(location_ids=[loc.pk for loc in locations], now=NOW)
    assert sum(counts[key] for counts in result.values() for key in AGE_BUCKETS) == 12


@pytest.mark.postgres
def test_the_ageing_reads_its_partial_index_alone(here):
    aged(here, H)
    with CaptureQueriesContext(connection) as captured:
        package_ageing_by_location(location_ids=[here.pk], now=NOW)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN " + captured.captured_queries[0]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Only Scan using package_ageing_idx" in plan, plan


# --- the dashboards link to the list filtered that way -----------------------------------------

def _listed(client, url) -> set[str]:
    response = client.get(url)
    assert response.status_code == 200
    return {p.number for p in response.context["page_obj"].object_list}


def _fixture_packages(location):
    """One package per bucket (away from the boundaries), one late, and what is not counted."""
    now = timezone.now()
    made = {
        "lt1h": make_package(Status.PENDING, location=location, status_changed_at=now - 20 * M),
        "1-4h": make_package(Status.IN_PROGRESS, location=location, status_changed_at=now - 2 * H),
        "4-24h": make_package(Status.PENDING_CANCELLATION, location=location, status_changed_at=now - 9 * H),
        "gt24h": make_package(Status.PENDING_TRANSFER, location=location, status_changed_at=now - 50 * H),
        "late": make_package(Status.PACKAGING_COMPLETED, location=location, status_changed_at=now - 2 * H,
                             ship_by=now - H),
    }
    make_package(Status.SHIPPED, location=location, status_changed_at=now - 2 * H, ship_by=now - H)
    make_package(Status.DELIVERED, location=location, status_changed_at=now - 50 * H)
    return {key: {package.number} for key, package in made.items()}


def test_movement_cards_link_each_figure_to_exactly_its_packages(client, boss, here):
    client.force_login(boss)
    expected = _fixture_packages(here)
    elsewhere = StockLocationFactory(code="ELSE")
    _fixture_packages(elsewhere)
    response = client.get(reverse("packages:movements"))
    card = next(c for c in response.context["cards"] if c["location"].code == "HERE")
    figures = {a["key"]: (a["count"], a["url"]) for a in card["ageing"]["ages"]}
    figures["late"] = (card["ageing"]["late"], card["ageing"]["late_url"])
    for key, numbers in expected.items():
        count, url = figures[key]
        assert count == 1 and _listed(client, url) == numbers, key
    html = response.content.decode()
    assert 'data-testid="ageing"' in html and f'href="{figures["gt24h"][1].replace("&", "&amp;")}"' in html


def test_location_page_links_each_figure_to_exactly_its_packages(client, django_user_model, here):
    operator = django_user_model.objects.create_user("olivia", password="pw")
    OperatorAssignment.objects.create(user=operator, location=here)
    client.force_login(operator)
    expected = _fixture_packages(here)
    _fixture_packages(StockLocationFactory(code="ELSE"))
    ageing = client.get(reverse("locations:detail", args=["HERE"])).context["ageing"]
    figures = {a["key"]: (a["count"], a["url"]) for a in ageing["ages"]}
    figures["late"] = (ageing["late"], ageing["late_url"])
    for key, numbers in expected.items():
        count, url = figures[key]
        assert count == 1 and _listed(client, url) == numbers, key


def test_list_says_it_is_filtered_and_keeps_the_filters_when_searching(client, boss, here):
    client.force_login(boss)
    expected = _fixture_packages(here)
    url = reverse("packages:list") + "?" + urlencode({"location": "HERE", "open": "true", "age": "1-4h"})
    html = client.get(url).content.decode()
    assert f"Only open packages in their state for {AGE_BUCKETS['1-4h'][0]}" in html
    assert '<input type="hidden" name="age" value="1-4h">' in html
    assert '<input type="hidden" name="open" value="true">' in html
    assert _listed(client, url + "&late=false") == expected["1-4h"]
    completed = reverse("packages:list") + "?late=false&location=HERE&status=packaging_completed"
    assert _listed(client, completed) == set()


@pytest.mark.parametrize("query", ["age=bogus", "late=maybe", "open=1", "age=", "age=%00"])
def test_an_unknown_filter_value_is_ignored(client, boss, here, query):
    client.force_login(boss)
    make_package(Status.PENDING, location=here)
    response = client.get(reverse("packages:list") + "?" + query)
    assert response.status_code == 200 and len(response.context["page_obj"].object_list) == 1
