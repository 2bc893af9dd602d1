"""CSV export of the transfer list: its columns, and how the rows of ``transfer_search`` become
them (one query, read in chunks; see ``oms.csv_export``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.db.models import QuerySet

from oms.csv_export import ITERATOR_CHUNK_ROWS, export_time
from transfers.models import Status, Transfer

TRANSFER_CSV_HEADER = (
    "number", "status", "status_slug", "from_code", "from_name", "to_code", "to_name", "package_number",
    "carrier", "tracking_number", "items", "created_at", "status_changed_at",
)
# What is read per transfer (``item_count`` is an annotation of ``transfer_search``).
_FIELDS = (
    "number", "status", "source__code", "source__name", "destination__code", "destination__name",
    "package__number", "carrier", "tracking_number", "item_count", "created_at", "status_changed_at",
)
_LABELS = dict(Status.choices)


def transfer_csv_rows(transfers: QuerySet[Transfer], *, zone: dt.tzinfo) -> Iterator[tuple]:
    """Yield one tuple per transfer of ``transfers`` (a ``transfer_search`` queryset, in its
    order) in the columns of ``TRANSFER_CSV_HEADER``. One query, fetched
    ``ITERATOR_CHUNK_ROWS`` rows at a time; nothing runs until iterated. Times are given in
    ``zone`` (the view's active time zone: the rows are read after the view has returned)."""
    rows = transfers.values_list(*_FIELDS).iterator(chunk_size=ITERATOR_CHUNK_ROWS)
    for (number, status, from_code, from_name, to_code, to_name, package_number, carrier,
         tracking_number, item_count, created_at, status_changed_at) in rows:
        yield (number, _LABELS[status], status, from_code, from_name, to_code, to_name, package_number,
               carrier, tracking_number, item_count, export_time(created_at, zone),
               export_time(status_changed_at, zone))
