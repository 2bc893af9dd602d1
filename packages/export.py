"""CSV export of the package list: its columns, and how the rows of ``package_search`` become
them (one query, read in chunks; see ``oms.csv_export``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.db.models import QuerySet

from oms.csv_export import ITERATOR_CHUNK_ROWS, export_time
from packages.models import Package, Status

PACKAGE_CSV_HEADER = (
    "number", "order_number", "status", "status_slug", "location_code", "location_name", "brand",
    "ship_by", "late", "blocked_at", "status_changed_at", "created_at", "carrier", "tracking_number",
    "units",
)
# What is read per package (``is_late`` and ``units`` are annotations of ``package_search``).
_FIELDS = (
    "number", "order_number", "status", "location__code", "location__name", "brand__name", "ship_by",
    "is_late", "blocked_at", "status_changed_at", "created_at", "carrier", "tracking_number", "units",
)
_STATUSES = {code: (Status(code).label, Status(code).slug) for code in Status.values}


def package_csv_rows(packages: QuerySet[Package], *, zone: dt.tzinfo) -> Iterator[tuple]:
    """Yield one tuple per package of ``packages`` (a ``package_search`` queryset, in its
    order) in the columns of ``PACKAGE_CSV_HEADER``. One query, fetched
    ``ITERATOR_CHUNK_ROWS`` rows at a time; nothing runs until iterated. Times are given in
    ``zone`` (the view's active time zone: the rows are read after the view has returned)."""
    rows = packages.values_list(*_FIELDS).iterator(chunk_size=ITERATOR_CHUNK_ROWS)
    for (number, order_number, status, location_code, location_name, brand, ship_by, is_late,
         blocked_at, status_changed_at, created_at, carrier, tracking_number, units) in rows:
        label, slug = _STATUSES[status]
        yield (number, order_number, label, slug, location_code, location_name, brand,
               export_time(ship_by, zone), "yes" if is_late else "no", export_time(blocked_at, zone),
               export_time(status_changed_at, zone), export_time(created_at, zone), carrier,
               tracking_number, units)
