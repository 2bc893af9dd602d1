"""Streamed CSV downloads of operator lists (Django's ``StreamingHttpResponse`` + ``csv.writer``
pattern), with spreadsheet formula injection neutralised and times in ISO 8601 with offset.

Memory stays flat whatever the row count: rows come from the caller's lazy iterable (a
``QuerySet.iterator(chunk_size=…)`` over ``values_list``) and leave in chunks of about
``CHUNK_BYTES``. The iterable is consumed inside one transaction, so on PostgreSQL Django's
server-side cursor is a plain one (no ``WITH HOLD``, which would make PostgreSQL materialise
the whole result at the ``DECLARE``), and it stays on one server connection behind pgbouncer
in transaction pooling mode. With ``DISABLE_SERVER_SIDE_CURSORS`` set, psycopg would fetch
the whole result into the process instead: leave it off (it is, in ``oms.config.settings``).
An export holds its database connection and transaction until the last row is sent. Served
by WSGI (gunicorn); under ASGI Django would read a synchronous iterator whole before sending.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.db import transaction
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header

CHUNK_BYTES = 64 * 1024  # characters gathered before handing a piece to the server
ITERATOR_CHUNK_ROWS = 2000  # rows per fetch from the database cursor (QuerySet.iterator)

# OWASP "CSV Injection": a cell starting with one of these may be run as a formula by a
# spreadsheet; prefixing a single quote makes it text. Only strings are neutralised: numbers
# are written by the program as numbers (a negative count would stay a number), and every
# text a user or an integrator controls reaches the file as a string.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

BOM = "\ufeff"  # Excel reads a UTF-8 file as the local code page unless it starts with the BOM


def export_time(value: dt.datetime | None, zone: dt.tzinfo | None = None) -> str:
    """Return ``value`` as ISO 8601 with its offset in ``zone`` (default: the active time
    zone), e.g. ``"2026-12-06T10:15:00-03:00"``; ``""`` for None. The one place export
    times are formatted. Pass ``zone`` when formatting many values: looking the active zone
    up costs more than the formatting."""
    if value is None:
        return ""
    return timezone.localtime(value, zone).isoformat()


def csv_cell(value: Any) -> Any:
    """Return ``value`` as it is written in a cell: None as empty, a string starting with a
    formula character prefixed with ``'``, anything else unchanged."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class _Echo:
    """A file-like object whose ``write`` returns what it is given (Django's streaming CSV
    recipe): ``csv.writer(_Echo()).writerow(row)`` returns the row's line."""

    def write(self, value: str) -> str:
        return value


def _lines(header: Sequence[str], rows: Iterable[Sequence[Any]], using: str) -> Iterator[str]:
    writer = csv.writer(_Echo())
    pending, size = [BOM + writer.writerow(header)], 0
    with transaction.atomic(using=using):
        for row in rows:
            line = writer.writerow([csv_cell(value) for value in row])
            pending.append(line)
            size += len(line)
            if size >= CHUNK_BYTES:
                yield "".join(pending)
                pending, size = [], 0
    yield "".join(pending)


def csv_response(*, filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]],
                 using: str = "default") -> StreamingHttpResponse:
    """Return a streamed UTF-8 CSV attachment named ``filename``: a BOM and ``header``, then
    ``rows`` (a lazy iterable of sequences, read inside one transaction on ``using`` while the
    response is sent). Cells go through ``csv_cell``."""
    response = StreamingHttpResponse(_lines(header, rows, using), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "no-store"
    return response
