"""The streamed CSV helper: formula neutralising, time format, transaction around the rows."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.db import connection
from django.utils import timezone

from oms.csv_export import csv_cell, csv_response, export_time


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("x")'])
def test_a_string_that_a_spreadsheet_would_run_gets_a_quote(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("value,written", [
    ("ORD-1", "ORD-1"), ("a=b", "a=b"), ("", ""), (None, ""), (-3, -3), (5, 5), ("'=x", "'=x"),
])
def test_other_values_are_written_as_they_are(value, written):
    assert csv_cell(value) == written


def test_export_time_is_iso_with_the_offset_of_the_active_zone():
    value = dt.datetime(2026, 12, 6, 13, 15, tzinfo=dt.UTC)
    with timezone.override("America/Sao_Paulo"):
        assert export_time(value) == "2026-12-06T10:15:00-03:00"
    assert export_time(value) == "2026-12-06T13:15:00+00:00"
    assert export_time(value, zoneinfo.ZoneInfo("Asia/Kolkata")) == "2026-12-06T18:45:00+05:30"
    assert export_time(None) == ""


@pytest.mark.django_db
def test_rows_are_read_inside_one_transaction_and_released_after():
    depth, seen = len(connection.savepoint_ids), []  # the test's own transaction: one level

    def rows():
        seen.append(len(connection.savepoint_ids))
        yield ("=1", 2)

    response = csv_response(filename="x.csv", header=("a", "b"), rows=rows())
    assert seen == []  # nothing read before the response is sent
    assert b"".join(response.streaming_content).decode("utf-8") == "\ufeffa,b\r\n'=1,2\r\n"
    assert seen == [depth + 1] and len(connection.savepoint_ids) == depth
