"""Packages to act on, and the raw-SQL baseline of one action, for P1 and P2.

``ship_pool(count, tag)`` writes ``count`` packages in Packaging Completed (500) under the
brand ``bench-actions`` (no label or invoice gate, so ship goes straight to Shipped), one
Olist-distributed item each, at the dataset's locations, numbered ``BA-<tag>-0000001``….

``raw_ship(numbers, threads)`` does, per package, in its own transaction on its own
connection per thread, the row changes the ship service makes: lock the package row by
number (``SELECT … FOR UPDATE``), update it (status, version, carrier, tracking number,
shipped/changed/updated times), insert its log row and its outbox event with a payload the
size of the service's. That is the database's share of an action, measured with the same
concurrency as the HTTP clients. ``ship_one`` holds those statements for one package; the P1
framework-ceiling view (``bench.ceiling_urls``) runs the same function on Django's connection.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence

from django.db import transaction

from bench.harness import raw_connection
from bench.sql import execute, fetchone, insert_columns, insert_select, reset_sequence, table

BRAND = "bench-actions"
CARRIER = "correios"


def _models():
    from locations.models import Sku, StockLocation
    from oms.models import OutboxEvent
    from packages.models import Brand, Package, PackageItem, PackageTransition

    return Sku, StockLocation, OutboxEvent, Brand, Package, PackageItem, PackageTransition


def ship_pool(count: int, tag: str) -> list[str]:
    """Create ``count`` packages ready to ship; return their numbers in id order."""
    Sku, StockLocation, _, Brand, Package, PackageItem, PackageTransition = _models()
    with transaction.atomic():
        brand, _ = Brand.objects.get_or_create(slug=BRAND, defaults={"name": "Bench actions"})
        first = (fetchone(f"SELECT coalesce(max(id), 0) FROM {table(Package)}")[0] or 0) + 1
        prefix = f"BA-{tag}-"
        execute(f"""
            CREATE TEMP TABLE ba_pkg ON COMMIT DROP AS
            SELECT g AS id, l.ids[1 + g %% cardinality(l.ids)] AS location_id,
                   k.ids[1 + (g * 7) %% cardinality(k.ids)] AS sku_id
            FROM generate_series(%s, %s) AS g,
                 (SELECT array_agg(id ORDER BY id) AS ids FROM {table(StockLocation)}) l,
                 (SELECT array_agg(id ORDER BY id) AS ids FROM {table(Sku)}) k
        """, [first, first + count - 1])
        insert_select(Package, {
            "id": "id", "number": ("%s || lpad((id - %s + 1)::text, 7, '0')", [prefix, first]),
            "order_number": ("%s || lpad((id - %s + 1)::text, 7, '0')", [prefix, first]),
            "brand_id": ("%s", [brand.pk]), "location_id": "location_id", "delivery_type": "'ship'",
            "status": "500", "version": "3", "ship_by": "now() + interval '1 day'",
        }, "FROM ba_pkg ORDER BY id")
        reset_sequence(Package)
        insert_select(PackageItem, {"package_id": "id", "sku_id": "sku_id", "quantity": "1",
                                    "unit_price": "49.90", "freight_value": "9.90"}, "FROM ba_pkg")
        insert_select(PackageTransition, {
            "package_id": "id", "from_status": "200", "to_status": "500", "action": "'complete_packaging'",
            "actor": "'system:bench'", "reason": "''", "payload": "'{}'::jsonb"}, "FROM ba_pkg")
    execute(f"ANALYZE {table(Package)}", [])
    return [f"{prefix}{i:07d}" for i in range(1, count + 1)]


def cleanup() -> None:
    """Delete the ``bench-actions`` packages with their items, log rows and events."""
    _, _, OutboxEvent, Brand, Package, PackageItem, PackageTransition = _models()
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


def _raw_statements() -> dict[str, str]:
    _, _, OutboxEvent, _, Package, _, PackageTransition = _models()
    log_cols, log_exprs, _ = insert_columns(PackageTransition, {
        "package_id": "%(id)s", "from_status": "500", "to_status": "700", "action": "'ship'",
        "actor": "'api:bench-api'", "actor_user_id": "NULL", "reason": "''",
        "payload": "%(log_payload)s::jsonb",
        "created_at": "now()"}, literal_defaults=True)
    out_cols, out_exprs, _ = insert_columns(OutboxEvent, {
        "uuid": "gen_random_uuid()", "type": "'package.status.transitioned'", "aggregate_type": "'package'",
        "aggregate_id": "%(id)s", "payload": "%(payload)s::jsonb", "created_at": "now()",
        "dispatched_at": "NULL"}, literal_defaults=True)
    return {
        "lock": f"SELECT id, status, version, number, order_number, ship_by FROM {table(Package)} "
                "WHERE number = %(number)s FOR UPDATE",
        "update": f"UPDATE {table(Package)} SET status = 700, version = version + 1, carrier = %(carrier)s, "
                  "tracking_number = %(tracking)s, shipped_at = now(), status_changed_at = now(), "
                  "updated_at = now() WHERE id = %(id)s",
        "log": f"INSERT INTO {table(PackageTransition)} ({', '.join(log_cols)}) "
               f"VALUES ({', '.join(log_exprs)})",
        "event": f"INSERT INTO {table(OutboxEvent)} ({', '.join(out_cols)}) VALUES ({', '.join(out_exprs)})",
    }


def raw_statements() -> dict[str, str]:
    """The baseline's SQL for one ship, keyed ``lock``, ``update``, ``log``, ``event``
    (pyformat parameters, see ``ship_one``)."""
    return _raw_statements()


def ship_one(cur, statements: dict[str, str], number: str, *, carrier: str = CARRIER,
             tracking: str | None = None) -> bool:
    """Run the baseline's ship statements for package ``number`` on the DB-API cursor ``cur``
    (psycopg2, or Django's cursor wrapper): lock the row by number, update it, insert its log
    row and its outbox event. No commit or rollback: the caller owns the transaction.

    ``tracking`` defaults to ``TRK<id>``. Returns False, having changed nothing, when the
    package does not exist or is not in Packaging Completed (500); the caller then rolls back
    to release the lock. Used by ``raw_ship`` and by the framework-ceiling view
    (``bench.ceiling_urls``), so both make exactly the same row changes."""
    cur.execute(statements["lock"], {"number": number})
    row = cur.fetchone()
    if row is None or row[1] != 500:
        return False
    pk, _, version, number, order_number, ship_by = row
    tracking = tracking or f"TRK{pk}"
    cur.execute(statements["update"], {"id": pk, "carrier": carrier, "tracking": tracking})
    payload = {"package": {
        "id": pk, "number": number, "order_number": order_number, "brand": BRAND,
        "location": "", "delivery_type": "ship",
        "status": {"code": 700, "slug": "shipped", "label": "Shipped"},
        "version": version + 1, "ship_by": ship_by.isoformat() if ship_by else None,
        "carrier": carrier, "tracking_number": tracking, "invoice_number": "",
        "replaces": None, "items": [{"sku": "", "quantity": 1}]},
        "transition": {"action": "ship", "from_status": {
            "code": 500, "slug": "packaging_completed", "label": "Packaging Completed"},
            "to_status": {"code": 700, "slug": "shipped", "label": "Shipped"},
            "actor": "api:bench-api", "reason": ""}}
    cur.execute(statements["log"], {"id": pk, "log_payload": json.dumps(
        {"carrier": carrier, "tracking_number": tracking})})
    cur.execute(statements["event"], {"id": pk, "payload": json.dumps(payload)})
    return True


def raw_ship(numbers: Sequence[str], *, threads: int) -> tuple[float, int]:
    """Ship ``numbers`` with raw SQL over ``threads`` connections; return (seconds, shipped)."""
    statements = _raw_statements()
    chunks = [list(numbers[i::threads]) for i in range(threads)]
    barrier = threading.Barrier(threads + 1)
    done = [0] * threads

    def worker(index: int, chunk: list[str]) -> None:
        conn = raw_connection()
        try:
            with conn.cursor() as cur:
                barrier.wait()
                for number in chunk:
                    if not ship_one(cur, statements, number):
                        conn.rollback()
                        continue
                    conn.commit()
                    done[index] += 1
        finally:
            conn.close()

    workers = [threading.Thread(target=worker, args=(i, chunk), daemon=True)
               for i, chunk in enumerate(chunks)]
    for w in workers:
        w.start()
    barrier.wait()
    started = time.perf_counter()
    for w in workers:
        w.join()
    return time.perf_counter() - started, sum(done)
