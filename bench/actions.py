"""Packages to act on, and the raw-SQL baselines of ship, for P1 and P2.

``ship_pool(count, tag)`` writes ``count`` packages in Packaging Completed (500) under the
brand ``bench-actions`` (shipping label and invoice required, so ship goes 500 -> 550), at
the ``SCOPE_LOCATIONS`` busiest stock locations of the dataset (``scope_locations``: the
bench token's scope), each with the items of a dataset package of its location (the
generator's Olist mix), version 3, three log rows; numbered ``BA-<tag>-0000001``….

``p1_statements()``: the two statements of one ship as the application makes it for an
integrator's request with ``Idempotency-Key`` and ``If-Match`` (the read inside the token's
scope; the guarded write of the package, its log row, its outbox event and the idempotency
record with the answer). ``p2_statement()``: the bulk ship of many packages in one
set-based statement. Both are templates with ``{name}`` parameters, for pgbench
(``pgbench_sql``) and for Django's cursor (``django_sql``, ``ship_one``: the P1
framework-ceiling view). ``verify_pool`` checks afterwards that every package of a pool was
shipped exactly once, and measures the event and stored answer sizes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from django.db import transaction

from bench.sql import execute, fetchall, fetchone, insert_columns, insert_select, reset_sequence, table

BRAND = "bench-actions"
CARRIER = "correios"
SCOPE_LOCATIONS = 4  # stock locations in the bench token's scope, holding the pools
TOKEN_NAME = "bench"  # name of the bench API tokens (bench.server.api_token)


def _models():
    from locations.models import Sku, StockLocation
    from oms.events.models import OutboxEvent
    from packages.models import Brand, Package, PackageItem, PackageTransition

    return Sku, StockLocation, OutboxEvent, Brand, Package, PackageItem, PackageTransition


def scope_locations(count: int = SCOPE_LOCATIONS) -> list[tuple[int, str]]:
    """Return ``[(id, code)]`` of the ``count`` stock locations holding the most dataset
    packages (ties by id): the bench token's scope, and where the pools are placed."""
    _, StockLocation, _, Brand, Package, _, _ = _models()
    return fetchall(f"""
        SELECT l.id, l.code FROM {table(StockLocation)} l
        JOIN {table(Package)} p ON p.location_id = l.id
        WHERE p.brand_id IS DISTINCT FROM (SELECT id FROM {table(Brand)} WHERE slug = %s)
        GROUP BY l.id, l.code ORDER BY count(*) DESC, l.id LIMIT %s""", [BRAND, count])


def ship_pool(count: int, tag: str, *, location_ids: Sequence[int] | None = None) -> list[str]:
    """Create ``count`` packages ready to ship; return their numbers in id order.

    Brand ``bench-actions`` (shipping label and invoice required: ship goes 500 -> 550),
    placed round-robin over ``location_ids`` (default: ``scope_locations()``), each with the
    items of a dataset package of its location (the generator's Olist mix of lines and units),
    version 3 and the three log rows of its way to Packaging Completed. Numbered
    ``BA-<tag>-0000001``…, so ``number_sql`` finds the k-th one."""
    _, _, _, Brand, Package, PackageItem, PackageTransition = _models()
    location_ids = list(location_ids or [pk for pk, _ in scope_locations()])
    with transaction.atomic():
        brand, _ = Brand.objects.update_or_create(slug=BRAND, defaults={
            "name": "Bench actions", "requires_shipping_label": True, "requires_invoice": True})
        first = (fetchone(f"SELECT coalesce(max(id), 0) FROM {table(Package)}")[0] or 0) + 1
        prefix = f"BA-{tag}-"
        execute(f"""
            CREATE TEMP TABLE ba_pkg ON COMMIT DROP AS
            WITH src AS (
                SELECT p.id, p.location_id,
                       row_number() OVER (PARTITION BY p.location_id ORDER BY p.id) - 1 AS k,
                       count(*) OVER (PARTITION BY p.location_id) AS n
                FROM {table(Package)} p
                WHERE p.location_id = ANY(%(locations)s) AND p.brand_id <> %(brand)s
                  AND EXISTS (SELECT 1 FROM {table(PackageItem)} i WHERE i.package_id = p.id)),
            g AS (
                SELECT g AS id, (%(locations)s::bigint[])[1 + (g - %(first)s) %% %(nloc)s] AS location_id,
                       (g - %(first)s) / %(nloc)s AS k
                FROM generate_series(%(first)s, %(last)s) AS g)
            SELECT g.id, g.location_id, src.id AS source_id
            FROM g JOIN src ON src.location_id = g.location_id AND src.k = g.k %% src.n
        """, {"locations": location_ids, "brand": brand.pk, "first": first, "last": first + count - 1,
              "nloc": len(location_ids)})
        placed = fetchone("SELECT count(*) FROM ba_pkg")[0]
        if placed != count:
            raise RuntimeError(f"pool: {placed}/{count} packages placed (locations without packages?)")
        insert_select(Package, {
            "id": "id", "number": ("%s || lpad((id - %s + 1)::text, 7, '0')", [prefix, first]),
            "order_number": ("%s || lpad((id - %s + 1)::text, 7, '0')", [prefix, first]),
            "brand_id": ("%s", [brand.pk]), "location_id": "location_id", "delivery_type": "'ship'",
            "status": "500", "version": "3", "ship_by": "now() + interval '1 day'",
            "placed_at": "now() - interval '1 hour'",
        }, "FROM ba_pkg ORDER BY id")
        reset_sequence(Package)
        insert_select(PackageItem, {"package_id": "b.id", "sku_id": "i.sku_id", "quantity": "i.quantity",
                                    "unit_price": "i.unit_price", "freight_value": "i.freight_value"},
                      f"FROM ba_pkg b JOIN {table(PackageItem)} i ON i.package_id = b.source_id "
                      "ORDER BY b.id, i.id")
        for from_status, to_status, action in ((None, 100, "create"), (100, 200, "start_preparing"),
                                               (200, 500, "complete_packaging")):
            insert_select(PackageTransition, {
                "package_id": "id", "from_status": "NULL" if from_status is None else str(from_status),
                "to_status": str(to_status), "action": f"'{action}'", "actor": "'system:bench'",
                "reason": "''", "payload": "'{}'::jsonb"}, "FROM ba_pkg ORDER BY id")
    execute(f"ANALYZE {table(Package)}", [])
    return [f"{prefix}{i:07d}" for i in range(1, count + 1)]


def cleanup() -> None:
    """Delete the ``bench-actions`` packages with their items, log rows and events, and the
    bench tokens' idempotency records."""
    _, _, OutboxEvent, Brand, Package, PackageItem, PackageTransition = _models()
    from oms.api.models import ApiToken, IdempotencyItem, IdempotencyRecord

    records = (f"(SELECT id FROM {table(IdempotencyRecord)} WHERE token_id IN "
               f"(SELECT id FROM {table(ApiToken)} WHERE name = %s))")
    with transaction.atomic():
        execute(f"DELETE FROM {table(IdempotencyItem)} WHERE record_id IN {records}", [TOKEN_NAME])
        execute(f"DELETE FROM {table(IdempotencyRecord)} WHERE id IN {records}", [TOKEN_NAME])
    brand = Brand.objects.filter(slug=BRAND).first()
    if brand is None:
        return
    ids = f"(SELECT id FROM {table(Package)} WHERE brand_id = %s)"
    with transaction.atomic():
        execute(f"DELETE FROM {table(OutboxEvent)} WHERE aggregate_type = 'package' "
                f"AND aggregate_id IN {ids}", [brand.pk])
        execute(f"DELETE FROM {table(PackageTransition)} WHERE package_id IN {ids}", [brand.pk])
        execute(f"DELETE FROM {table(PackageItem)} WHERE package_id IN {ids}", [brand.pk])
        execute(f"DELETE FROM {table(Package)} WHERE brand_id = %s", [brand.pk])


def shipped_count(numbers: Sequence[str]) -> int:
    _, _, _, _, Package, _, _ = _models()
    return Package.objects.filter(number__in=list(numbers), status=700).count()


# --- the raw-SQL baseline ----------------------------------------------------------------------
#
# Statement templates name their parameters ``{name}``; ``pgbench_sql`` turns them into
# pgbench variables (``:name``, or an expression over variables), ``django_sql`` into ``%s``
# placeholders with the parameter names in order (the framework-ceiling view).

_PARAM = re.compile(r"\{(\w+)\}")


def _status_json(expression: str) -> str:
    """SQL for ``packages.models.status_dict(<expression>)`` as JSON (NULL for NULL)."""
    from packages.models import Status, status_dict

    whens = " ".join(f"WHEN {s.value} THEN '{json.dumps(status_dict(s.value))}'" for s in Status)
    return f"(CASE {expression} {whens} END)::jsonb"


def _allowed_json(expression: str) -> str:
    """SQL for the API's ``allowed_actions`` of a ``bench-actions`` package after ship, by
    its new status (550, 560 or 700), as the application computes them."""
    from packages.engine import package_allowed_actions
    from packages.models import Brand, Package

    brand = Brand(slug=BRAND, requires_shipping_label=True, requires_invoice=True)
    allowed = {code: package_allowed_actions(Package(status=code, delivery_type="ship", brand=brand),
                                             actor_kind="api") for code in (550, 560, 700)}
    whens = " ".join(f"WHEN {code} THEN '{json.dumps(names)}'" for code, names in allowed.items())
    return f"(CASE {expression} {whens} END)::jsonb"


def _ship_log_and_event(*, brand: str, location: str, items: str) -> tuple[list, list, list, list]:
    """Columns and SQL expressions of the ship's log row and outbox event, written from the
    updated row ``w0``; ``brand``, ``location`` and ``items`` are SQL for those payload
    fields. Returns ``(log columns, log expressions, event columns, event expressions)``."""
    _, _, OutboxEvent, _, _, _, PackageTransition = _models()
    log_cols, log_exprs, _ = insert_columns(PackageTransition, {
        "package_id": "w0.id", "from_status": "500", "to_status": "w0.status", "action": "'ship'",
        "actor": "{actor}", "actor_user_id": "NULL", "reason": "''",
        "payload": "jsonb_build_object('carrier', w0.carrier, 'tracking_number', w0.tracking_number)",
        "created_at": "w0.updated_at"}, literal_defaults=True)
    event = f"""jsonb_build_object(
        'package', jsonb_build_object(
            'id', w0.id, 'number', w0.number, 'order_number', w0.order_number, 'brand', {brand},
            'location', {location}, 'delivery_type', w0.delivery_type,
            'status', {_status_json('w0.status')}, 'version', w0.version, 'ship_by', w0.ship_by,
            'carrier', w0.carrier, 'tracking_number', w0.tracking_number,
            'invoice_number', w0.invoice_number, 'invoice_date', w0.invoice_date,
            'blocked', NULL, 'replaces', NULL, 'split_from', NULL,
            'items', {items}),
        'transition', jsonb_build_object(
            'action', 'ship', 'from_status', {_status_json('500')}, 'to_status', {_status_json('w0.status')},
            'actor', {{actor}}::text, 'reason', ''))"""
    out_cols, out_exprs, _ = insert_columns(OutboxEvent, {
        "uuid": "gen_random_uuid()", "type": "'package.status.transitioned'", "aggregate_type": "'package'",
        "aggregate_id": "w0.id", "payload": event, "created_at": "w0.updated_at",
        "dispatched_at": "NULL"}, literal_defaults=True)
    return log_cols, log_exprs, out_cols, out_exprs


def p1_statements() -> dict[str, str]:
    """The raw-SQL ship of one package, as the application's production-shaped request does
    it (``Idempotency-Key`` and ``If-Match``, a token scoped to some locations), in two
    statements:

    ``read``: the package by number inside the token's scope, in Packaging Completed, with its
    brand's next state, location, items and log (JSON); parameters ``number``, ``token``.

    ``write``: one statement, its own transaction: update the package only if its version is
    still ``if_match`` (status, version + 1, carrier, tracking number, times), and only then
    insert its log row, its outbox event (the service's payload shape) and the idempotency
    record with the rendered answer (the API's detail shape, history included); returns that
    answer. Parameters: the read's columns (``id``, ``number``, ``order_number``, ``brand``,
    ``location``, ``to_status``, ``items``, ``history``) and ``if_match``, ``carrier``,
    ``tracking``, ``actor``, ``token``, ``key``, ``request_body``."""
    from locations.models import Sku, StockLocation
    from oms.api.models import ApiToken, IdempotencyRecord

    _, _, OutboxEvent, Brand, Package, PackageItem, PackageTransition = _models()
    scope = ApiToken.locations.through._meta.db_table
    read = f"""
        SELECT p.id, p.number, p.order_number, b.slug AS brand, l.code AS location,
               CASE WHEN b.requires_shipping_label THEN 550 WHEN b.requires_invoice THEN 560
                    ELSE 700 END AS to_status,
               (SELECT json_agg(json_build_object('sku', k.code, 'quantity', i.quantity,
                                                  'unit_price', i.unit_price::text,
                                                  'freight_value', i.freight_value::text) ORDER BY i.id)
                FROM {table(PackageItem)} i JOIN {table(Sku)} k ON k.id = i.sku_id
                WHERE i.package_id = p.id) AS items,
               (SELECT json_agg(json_build_object(
                           'action', t.action, 'from_status', {_status_json('t.from_status')},
                           'to_status', {_status_json('t.to_status')}, 'actor', t.actor,
                           'reason', t.reason, 'payload', t.payload, 'created_at', t.created_at)
                       ORDER BY t.id)
                FROM {table(PackageTransition)} t WHERE t.package_id = p.id) AS history
        FROM {table(Package)} p JOIN {table(Brand)} b ON b.id = p.brand_id
        JOIN {table(StockLocation)} l ON l.id = p.location_id
        WHERE p.number = {{number}}
          AND p.location_id IN (SELECT stocklocation_id FROM {scope} WHERE apitoken_id = {{token}})
          AND p.status = 500 AND p.delivery_type = 'ship' AND p.blocked_at IS NULL"""
    log_cols, log_exprs, out_cols, out_exprs = _ship_log_and_event(
        brand="{brand}::text", location="{location}::text",
        items="(SELECT jsonb_agg(jsonb_build_object('sku', e->>'sku', 'quantity', (e->>'quantity')::int)) "
              "FROM jsonb_array_elements({items}::jsonb) e)")
    answer = f"""json_build_object(
        'number', w0.number, 'order_number', w0.order_number, 'brand', {{brand}}::text,
        'location', {{location}}::text, 'delivery_type', w0.delivery_type,
        'status', {_status_json('w0.status')}, 'version', w0.version,
        'status_changed_at', w0.status_changed_at, 'ship_by', w0.ship_by, 'carrier', w0.carrier,
        'tracking_number', w0.tracking_number, 'label_printed_at', w0.label_printed_at,
        'invoice_number', w0.invoice_number, 'invoice_date', w0.invoice_date,
        'invoice_url', w0.invoice_url, 'shipped_at', w0.shipped_at, 'delivered_at', w0.delivered_at,
        'delivery_attempts', w0.delivery_attempts, 'cancellation_reason', w0.cancellation_reason,
        'replaces', NULL, 'split_from', NULL, 'blocked', NULL, 'created_at', w0.created_at,
        'updated_at', w0.updated_at,
        'items', {{items}}::json, 'allowed_actions', {_allowed_json('w0.status')},
        'delivery_region', w0.delivery_region, 'replacement', NULL, 'split_into', json_build_array(),
        'denial_reason', NULL,
        'waiting_reason', NULL, 'planning', NULLIF(w0.planning, '{{}}'::jsonb),
        'transitions', {{history}}::jsonb || jsonb_build_array(jsonb_build_object(
            'action', 'ship', 'from_status', {_status_json('500')}, 'to_status', {_status_json('w0.status')},
            'actor', {{actor}}::text, 'reason', '', 'payload', w1.payload,
            'created_at', w1.created_at)))::text"""
    record_cols, record_exprs, _ = insert_columns(IdempotencyRecord, {
        "token_id": "{token}", "key": "{key}", "method": "'POST'",
        "path": "'/api/v1/packages/' || w0.number || '/actions/ship/'",
        "request_hash": "encode(sha256(convert_to('POST' || chr(10) || '/api/v1/packages/' || w0.number "
                        "|| '/actions/ship/' || chr(10) || {request_body}::text, 'UTF8')), 'hex')",
        "response_status": "200", "response_body": "a.body",
        "response_headers": "jsonb_build_object('ETag', '\"' || w0.version || '\"')",
        "lease_until": "NULL", "created_at": "w0.updated_at", "completed_at": "clock_timestamp()",
    }, literal_defaults=True)
    write = f"""
        WITH w0 AS (
            UPDATE {table(Package)} SET status = {{to_status}}::int, version = version + 1,
                carrier = {{carrier}}::text, tracking_number = {{tracking}}::text,
                status_changed_at = now(), updated_at = now()
            WHERE id = {{id}}::bigint AND version = {{if_match}}::int AND status = 500
              AND blocked_at IS NULL
            RETURNING *),
        w1 AS (
            INSERT INTO {table(PackageTransition)} ({', '.join(log_cols)})
            SELECT {', '.join(log_exprs)} FROM w0 RETURNING id, payload, created_at),
        w2 AS (
            INSERT INTO {table(OutboxEvent)} ({', '.join(out_cols)})
            SELECT {', '.join(out_exprs)} FROM w0 RETURNING id),
        w3 AS (
            INSERT INTO {table(IdempotencyRecord)} ({', '.join(record_cols)})
            SELECT {', '.join(record_exprs)} FROM w0, w1, LATERAL (SELECT {answer} AS body) a
            RETURNING response_body)
        SELECT w3.response_body FROM w3, w2"""
    return {"read": _squash(read), "write": _squash(write)}


def p2_statement() -> str:
    """The raw-SQL bulk ship, set-based, as one statement (its own transaction): lock the
    packages ``numbers`` (a text array) inside the token's scope in Packaging Completed, in id
    order; update them (status by brand gate, version + 1, carrier, tracking number
    ``TRK-<number>``, times); insert one log row and one outbox event (the service's payload
    shape) per package; return ``(number, status)`` per package. Parameters: ``numbers``,
    ``token``, ``carrier``, ``actor``."""
    from locations.models import Sku, StockLocation
    from oms.api.models import ApiToken

    _, _, OutboxEvent, Brand, Package, PackageItem, PackageTransition = _models()
    scope = ApiToken.locations.through._meta.db_table
    log_cols, log_exprs, out_cols, out_exprs = _ship_log_and_event(
        brand="l.brand", location="l.location",
        items=f"(SELECT jsonb_agg(jsonb_build_object('sku', k.code, 'quantity', i.quantity) ORDER BY i.id) "
              f"FROM {table(PackageItem)} i JOIN {table(Sku)} k ON k.id = i.sku_id "
              "WHERE i.package_id = w0.id)")
    return _squash(f"""
        WITH l AS (
            SELECT p.id, b.slug AS brand, s.code AS location,
                   CASE WHEN b.requires_shipping_label THEN 550 WHEN b.requires_invoice THEN 560
                        ELSE 700 END AS to_status
            FROM {table(Package)} p JOIN {table(Brand)} b ON b.id = p.brand_id
            JOIN {table(StockLocation)} s ON s.id = p.location_id
            WHERE p.number = ANY({{numbers}}::text[])
              AND p.location_id IN (SELECT stocklocation_id FROM {scope} WHERE apitoken_id = {{token}})
              AND p.status = 500 AND p.delivery_type = 'ship' AND p.blocked_at IS NULL
            ORDER BY p.id FOR UPDATE OF p),
        w0 AS (
            UPDATE {table(Package)} p SET status = l.to_status, version = p.version + 1,
                carrier = {{carrier}}::text, tracking_number = 'TRK-' || p.number,
                status_changed_at = now(), updated_at = now()
            FROM l WHERE p.id = l.id
            RETURNING p.*),
        w1 AS (
            INSERT INTO {table(PackageTransition)} ({', '.join(log_cols)})
            SELECT {', '.join(log_exprs)} FROM w0 ORDER BY w0.id RETURNING id),
        w2 AS (
            INSERT INTO {table(OutboxEvent)} ({', '.join(out_cols)})
            SELECT {', '.join(out_exprs)} FROM w0 JOIN l ON l.id = w0.id ORDER BY w0.id RETURNING id)
        SELECT w0.number, w0.status FROM w0 WHERE (SELECT count(*) FROM w1) = (SELECT count(*) FROM w2)""")


def _squash(sql: str) -> str:
    return " ".join(sql.split())


def pgbench_sql(template: str, variables: dict[str, str] | None = None) -> str:
    """``template`` with ``{name}`` as the pgbench variable ``:name``, or as
    ``variables[name]`` (an SQL expression over pgbench variables) where given."""
    variables = variables or {}
    return _PARAM.sub(lambda m: variables.get(m.group(1), f":{m.group(1)}"), template)


def django_sql(template: str) -> tuple[str, list[str]]:
    """``template`` with ``%s`` placeholders; return it and the parameter names in order."""
    names: list[str] = []

    def placeholder(match) -> str:
        names.append(match.group(1))
        return "%s"

    return _PARAM.sub(placeholder, template), names


def ship_one(cur, number: str, *, token_id: int, if_match: int, key: str, request_body: str,
             carrier: str = CARRIER, tracking: str | None = None, actor: str = "api:bench-api",
             execute=None) -> str | None:
    """Ship package ``number`` with the baseline's two statements (``p1_statements``) on the
    DB-API cursor ``cur`` (Django's cursor wrapper or psycopg's); return the stored answer
    (JSON text), or None when nothing was written (unknown, out of scope, not in Packaging
    Completed, or not at version ``if_match``). ``execute(cursor, sql, params)`` runs each
    statement (default ``cur.execute``; the ceiling view passes a prepared-statement runner).
    The statements commit themselves outside a transaction (autocommit)."""
    execute = execute or (lambda c, sql, params: c.execute(sql, params))
    (read, read_names), (write, write_names) = _django_statements()
    params = {"number": number, "token": token_id}
    execute(cur, read, [params[name] for name in read_names])
    row = cur.fetchone()
    if row is None:
        return None
    params.update(zip(("id", "number", "order_number", "brand", "location", "to_status", "items", "history"),
                      row, strict=True))
    for name in ("items", "history"):
        if not isinstance(params[name], str):
            params[name] = json.dumps(params[name])
    params.update({"if_match": if_match, "carrier": carrier, "tracking": tracking or f"TRK-{number}",
                   "actor": actor, "key": key, "request_body": request_body})
    execute(cur, write, [params[name] for name in write_names])
    row = cur.fetchone()
    return row[0] if row else None


_STATEMENTS: list = []


def _django_statements():
    if not _STATEMENTS:
        statements = p1_statements()
        _STATEMENTS.append((django_sql(statements["read"]), django_sql(statements["write"])))
    return _STATEMENTS[0]


def verify_pool(numbers: Sequence[str], *, idempotency: bool) -> dict:
    """Count what shipping ``numbers`` left: packages now Pending Shipping Label at version 4,
    ship log rows, ship events and (``idempotency``) idempotency records per package.
    ``exactly_once`` is True when every package has exactly one of each."""
    _, _, OutboxEvent, _, Package, _, PackageTransition = _models()
    from oms.api.models import IdempotencyRecord

    row = fetchone(f"""
        WITH p AS (SELECT id, number, status, version FROM {table(Package)} WHERE number = ANY(%s)),
        c AS (
            SELECT p.*,
                   (SELECT count(*) FROM {table(PackageTransition)} t
                    WHERE t.package_id = p.id AND t.action = 'ship') AS logs,
                   (SELECT count(*) FROM {table(OutboxEvent)} e WHERE e.aggregate_type = 'package'
                    AND e.aggregate_id = p.id AND e.type = 'package.status.transitioned') AS events,
                   (SELECT avg(octet_length(e.payload::text)) FROM {table(OutboxEvent)} e
                    WHERE e.aggregate_type = 'package' AND e.aggregate_id = p.id) AS event_bytes
            FROM p),
        r AS (SELECT path, count(*) AS n, avg(octet_length(response_body)) AS bytes
              FROM {table(IdempotencyRecord)}
              WHERE path = ANY(SELECT '/api/v1/packages/' || number || '/actions/ship/' FROM p)
              GROUP BY path)
        SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM c WHERE status = 550 AND version = 4),
               (SELECT count(*) FROM c WHERE logs = 1), (SELECT count(*) FROM c WHERE events = 1),
               (SELECT count(*) FROM r WHERE n = 1), (SELECT avg(event_bytes) FROM c),
               (SELECT avg(bytes) FROM r)""", [list(numbers)])
    packages, shipped, logs, events, records, event_bytes, answer_bytes = row
    result = {"packages": packages, "shipped": shipped, "one_log_row": logs, "one_event": events,
              "one_idempotency_record": records,
              "event_payload_bytes": float(event_bytes) if event_bytes is not None else None,
              "stored_answer_bytes": float(answer_bytes) if answer_bytes is not None else None}
    expected = len(numbers)
    result["exactly_once"] = (packages == shipped == logs == events == expected
                              and (records == expected if idempotency else True))
    return result
