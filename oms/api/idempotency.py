"""``Idempotency-Key`` for POST endpoints: act once per key, replay the first response.

A client sends ``Idempotency-Key: <1–255 printable ASCII characters>`` with a POST. Keys are
per API token. The request's fingerprint (method, path, canonical JSON body) is stored with
the key; the same key with another fingerprint answers 422 ``idempotency_key_reused``.

Single-transaction endpoints (create, one action, stock set) use ``idempotent_call``: the
``IdempotencyRecord`` row is inserted *before* the action, in the same transaction, and
completed with the rendered response before commit. So

* the record exists if and only if the action committed: after a crash between commit and
  response, the retry replays the stored response;
* a concurrent duplicate blocks on the unique index (PostgreSQL) or on the write lock
  (SQLite) until the first commits, then replays; if the first rolled back, it runs itself.

Stored outcomes: any response of the handler, and domain errors (``OmsError``, e.g. 409)
the handler raised; the handler's work is rolled back for those. Other errors (400 from a
serializer, 404, 412) roll the record back with everything else: a retry runs afresh.

Bulk endpoints (one transaction per package, ``idempotent_bulk``, or per chunk of packages,
``idempotent_bulk_chunks``): each entry's outcome is stored as an ``IdempotencyItem`` in the
transaction that acted on it (unique per position, so an entry never acts twice), and the
record is completed at the end. A retry of a finished run replays; a retry while a run holds
the lease (``BULK_LEASE``) answers 409 ``idempotency_request_in_progress``; a retry after the
lease expired (the run died) resumes from the stored outcomes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from oms.actions.errors import OmsError
from oms.api.errors import ApiError, oms_error_response
from oms.api.models import IdempotencyItem, IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY_RE = re.compile(r"[\x20-\x7e]{1,255}")
BULK_LEASE = dt.timedelta(minutes=2)
_STORED_HEADERS = ("ETag", "Location")


def idempotency_key(request) -> str | None:
    """Return the request's ``Idempotency-Key`` (stripped) or None when absent.

    Raises DRF ``ValidationError`` (400) for an empty, over-long or non-printable key.
    """
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if not _KEY_RE.fullmatch(key):
        raise exceptions.ValidationError(
            {HEADER: ["Use 1 to 255 printable ASCII characters, e.g. a UUID."]})
    return key


def request_fingerprint(request) -> str:
    """Return the SHA-256 hex of method, path and the canonical JSON of the parsed body."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method}\n{request.path}\n{body}".encode()).hexdigest()


def _render(response: Response) -> str:
    return JSONRenderer().render(response.data).decode("utf-8") if response.data is not None else ""


def _http_response(body: str, status: int, headers: dict) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type="application/json")
    for name, value in headers.items():
        response[name] = value
    return response


def _replay(record: IdempotencyRecord) -> HttpResponse:
    return _http_response(record.response_body, record.response_status,
                          {**record.response_headers, REPLAYED_HEADER: "true"})


def _complete(record: IdempotencyRecord, response: Response) -> HttpResponse:
    """Store ``response`` on ``record`` and return it as the exact bytes a replay sends."""
    body = _render(response)
    headers = {name: response[name] for name in _STORED_HEADERS if response.has_header(name)}
    record.response_status, record.response_body = response.status_code, body
    record.response_headers, record.completed_at = headers, timezone.now()
    record.save(update_fields=["response_status", "response_body", "response_headers",
                               "completed_at"])
    return _http_response(body, response.status_code, headers)


def _claim(request, key: str, *, lease_until: dt.datetime | None) -> tuple[IdempotencyRecord, bool]:
    """Insert the record for ``key`` or lock and return the existing one: ``(record, created)``.

    Must run inside a transaction. Raises 422 when the existing record has another
    fingerprint.
    """
    fingerprint = request_fingerprint(request)
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                token=request.auth, key=key, method=request.method, path=request.path[:500],
                request_hash=fingerprint, lease_until=lease_until,
            )
        return record, True
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.select_for_update().get(token=request.auth, key=key)
    if record.request_hash != fingerprint:
        raise ApiError(422, "idempotency_key_reused",
                       f"Idempotency-Key {key!r} was used for another request "
                       f"({record.method} {record.path} with another body). Use a new key.")
    return record, False


def _in_progress(key: str) -> ApiError:
    return ApiError(409, "idempotency_request_in_progress",
                    f"A request with Idempotency-Key {key!r} is still running; retry in a moment.")


def idempotent_call(request, handler: Callable[[], Response]) -> HttpResponse | Response:
    """Run ``handler`` (one transaction of work) at most once per ``Idempotency-Key``.

    Without the header, just returns ``handler()``. With it: replays the stored response
    (header ``Idempotent-Replayed: true``), or runs ``handler`` inside the transaction that
    inserts the record and stores its response (see module doc). ``OmsError`` raised by the
    handler becomes its stored error response; other exceptions propagate and store nothing.
    """
    key = idempotency_key(request)
    if key is None:
        return handler()
    with transaction.atomic():
        record, created = _claim(request, key, lease_until=None)
        if not created:
            if record.completed_at is not None:
                return _replay(record)
            raise _in_progress(key)
        try:
            with transaction.atomic():
                response = handler()
        except OmsError as exc:
            response = oms_error_response(exc)
        return _complete(record, response)


def idempotent_bulk(request, *, entries: Sequence[Any], run_entry: Callable[[int, Any], dict],
                    respond: Callable[[list[dict]], Response]) -> HttpResponse | Response:
    """Run ``run_entry(position, entry)`` for each entry, each in its own transaction, at
    most once per entry and ``Idempotency-Key``; answer ``respond(results)``.

    ``run_entry`` returns a JSON-safe outcome dict and must not raise for domain errors
    (it reports them in the outcome). Without the header every entry simply runs. With it,
    see the module doc: outcomes are stored per entry, the response at the end; a retry
    replays, waits (409 while the lease runs) or resumes an interrupted run. This is
    ``idempotent_bulk_chunks`` with chunks of one entry.
    """
    return idempotent_bulk_chunks(
        request, entries=entries, chunk_size=1, respond=respond,
        run_chunk=lambda chunk: [run_entry(position, entry) for position, entry in chunk])


def idempotent_bulk_chunks(request, *, entries: Sequence[Any],
                           run_chunk: Callable[[list[tuple[int, Any]]], list[dict]],
                           respond: Callable[[list[dict]], Response],
                           chunk_size: int) -> HttpResponse | Response:
    """Run the entries ``chunk_size`` at a time, each chunk in one transaction, at most once
    per entry and ``Idempotency-Key``; answer ``respond(results)`` (results in entry order).

    ``run_chunk(chunk)`` gets ``[(position, entry), …]`` (consecutive entries still to run,
    in order) inside the chunk's ``transaction.atomic()`` and returns one JSON-safe outcome
    dict per entry, aligned; it must not raise for domain errors (it reports them in the
    outcomes). An exception it raises rolls the chunk back and propagates (chunks before it
    stay committed). Without the header every chunk simply runs. With it, see the module
    doc: each entry's outcome is stored as an ``IdempotencyItem`` in its chunk's
    transaction (one bulk insert), the response at the end; a retry replays, waits (409
    while the lease runs) or resumes after the last committed chunk. When an overlapping
    run stored some entries of a chunk first (unique position), the chunk is rolled back,
    their stored outcomes are taken and the rest of the chunk runs again.
    """
    key = idempotency_key(request)
    if key is None:
        results: list[dict] = []
        pending = list(enumerate(entries))
        for start in range(0, len(pending), chunk_size):
            chunk = pending[start:start + chunk_size]
            with transaction.atomic():
                outcomes = run_chunk(chunk)
                if len(outcomes) != len(chunk):
                    raise ValueError("run_chunk must return one outcome per entry")
            results.extend(outcomes)
        return respond(results)

    now = timezone.now()
    with transaction.atomic():
        record, created = _claim(request, key, lease_until=now + BULK_LEASE)
        if not created:
            if record.completed_at is not None:
                return _replay(record)
            if record.lease_until is not None and record.lease_until > now:
                raise _in_progress(key)
            record.lease_until = now + BULK_LEASE  # take over a run that died; we hold the lock
            record.save(update_fields=["lease_until"])

    done = dict(IdempotencyItem.objects.filter(record=record).values_list("position", "result"))
    pending = [(position, entry) for position, entry in enumerate(entries) if position not in done]
    lease_renewed_at = timezone.now()
    for start in range(0, len(pending), chunk_size):
        chunk = pending[start:start + chunk_size]
        while chunk:
            try:
                with transaction.atomic():
                    outcomes = run_chunk(chunk)
                    if len(outcomes) != len(chunk):
                        raise ValueError("run_chunk must return one outcome per entry")
                    IdempotencyItem.objects.bulk_create([
                        IdempotencyItem(record=record, position=position, result=result)
                        for (position, _), result in zip(chunk, outcomes, strict=True)])
            except IntegrityError:
                # An overlapping run stored some of these entries first; our chunk was rolled
                # back with its actions. Take their outcomes, run the rest again.
                stored = dict(IdempotencyItem.objects.filter(
                    record=record, position__in=[position for position, _ in chunk])
                    .values_list("position", "result"))
                if not stored:
                    raise
                done.update(stored)
                chunk = [(position, entry) for position, entry in chunk if position not in stored]
                continue
            done.update((position, result) for (position, _), result in zip(chunk, outcomes, strict=True))
            chunk = []
        if timezone.now() - lease_renewed_at > BULK_LEASE / 4:
            lease_renewed_at = timezone.now()
            IdempotencyRecord.objects.filter(pk=record.pk).update(lease_until=lease_renewed_at + BULK_LEASE)

    with transaction.atomic():
        record = IdempotencyRecord.objects.select_for_update().get(pk=record.pk)
        if record.completed_at is not None:  # an overlapping run finished first
            return _replay(record)
        return _complete(record, respond([done[position] for position in range(len(entries))]))


def idempotency_records_purge(*, older_than: dt.timedelta = dt.timedelta(days=7)) -> int:
    """Delete records (and their items) created more than ``older_than`` ago; return how many.

    After that a key may be reused. Meant for a periodic job.
    """
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted
