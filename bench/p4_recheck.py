"""P4: the automatic re-check (``packages.rescheduling.package_recheck_out_of_stock``) over N
Product Out of Stock packages with stock back for 10 %, against one set-based SQL statement
producing the same result.

    .venv/bin/python -m bench.p4_recheck                                 # 20,000 packages, 3 runs
    .venv/bin/python -m bench.p4_recheck --packages 100000 --repeat 1    # the issue's size (~7 min today)

Set-up, in the database ``oms_bench`` (base dataset generated if missing, ``--base``): a brand
``bench-recheck`` with N packages in Product Out of Stock, all due, oldest first by id, items
and units drawn from the Olist distribution, at the 3,095 locations. Every tenth package has
its stock back: its lines use "wet" SKUs whose stock row holds the units of exactly those
packages plus 0–2 spare; every other package has its first line on a "dry" SKU with nothing
on hand and any further lines on "plenty" SKUs that always cover them (rows no rescheduled
package touches, so what a still-short package is short of does not depend on when it was
looked at).
The rescheduled packages therefore never compete for the last units, which is what lets one
set-based statement reproduce the service's oldest-first outcome exactly; the benchmark
checks that both runs leave the same packages rescheduled, the same ``reserved`` on every
stock row, the same shortage text on every still-short package and the same number of log
rows and outbox events.

Each run starts from the same state (the set-up is restored in SQL between runs); the two
are interleaved ``--repeat`` times and the medians compared. Target (issue 8): the re-check
takes at most 3x the set-based SQL.
"""

from __future__ import annotations

import datetime as dt
import json
import time

from django.db import connection, transaction
from django.utils import timezone

from bench.datagen import DatasetSpec, _case, ensure_dataset, olist_distributions
from bench.harness import (
    Table,
    base_parser,
    bootstrap,
    median,
    require_marked,
    require_postgresql,
    rerun_command,
    save_results,
    verdict,
)
from bench.sql import execute, fetchone, insert_columns, insert_select, reset_sequence, table

BRAND = "bench-recheck"
TARGET_RATIO = 3.0
SKUS_PER_KIND = 1000  # "w"et (stock back), "d"ry (nothing on hand), "p"lenty (always enough)
BACK_EVERY = 10  # every tenth package has its stock back
ACTOR = "system:recheck"


# --- set-up -----------------------------------------------------------------------------------

def _models():
    from locations.models import Sku, StockLevel, StockLocation
    from oms.events.models import OutboxEvent
    from packages.models import Brand, Package, PackageItem, PackageTransition

    return Sku, StockLevel, StockLocation, OutboxEvent, Brand, Package, PackageItem, PackageTransition


def cleanup(brand_slug: str = BRAND, sku_prefix: str = "p4-") -> None:
    """Delete everything a P4 set-up wrote (packages, their rows, its SKUs and brand)."""
    Sku, StockLevel, _, OutboxEvent, Brand, Package, PackageItem, PackageTransition = _models()
    brand = Brand.objects.filter(slug=brand_slug).first()
    with transaction.atomic():
        if brand is not None:
            ids = f"(SELECT id FROM {table(Package)} WHERE brand_id = %s)"
            execute(f"DELETE FROM {table(OutboxEvent)} WHERE aggregate_type = 'package' "
                    f"AND aggregate_id IN {ids}", [brand.pk])
            execute(f"DELETE FROM {table(PackageTransition)} WHERE package_id IN {ids}", [brand.pk])
            execute(f"DELETE FROM {table(PackageItem)} WHERE package_id IN {ids}", [brand.pk])
            execute(f"DELETE FROM {table(Package)} WHERE brand_id = %s", [brand.pk])
            brand.delete()
        sku_ids = f"(SELECT id FROM {table(Sku)} WHERE code LIKE %s)"
        execute(f"DELETE FROM {table(StockLevel)} WHERE sku_id IN {sku_ids}", [sku_prefix + "%"])
        execute(f"DELETE FROM {table(Sku)} WHERE code LIKE %s", [sku_prefix + "%"])


def setup(packages: int, *, seed: float = 0.7) -> dict:
    """Write the P4 scenario (see the module doc); return ``brand_id``, ids and the clock."""
    Sku, StockLevel, StockLocation, _, Brand, Package, PackageItem, PackageTransition = _models()
    require_marked()
    cleanup()
    lines_cdf, units_cdf = olist_distributions()
    started = time.perf_counter()
    with transaction.atomic():
        brand = Brand.objects.create(slug=BRAND, name="Bench re-check", recheck_interval_minutes=30)
        codes = [f"p4-{kind}-{i:04d}" for kind in "wdp" for i in range(SKUS_PER_KIND)]
        insert_select(Sku, {"code": "c", "name": "c", "category": "'bench'"},
                      "FROM unnest(%s::text[]) AS c", [codes])
        execute("SELECT setseed(%s)", [seed])
        ref = timezone.now().replace(microsecond=0)
        first = (fetchone(f"SELECT coalesce(max(id), 0) FROM {table(Package)}")[0] or 0) + 1
        last = first + packages - 1
        execute(f"""
            CREATE TEMP TABLE p4_loc ON COMMIT DROP AS
            SELECT (row_number() OVER (ORDER BY id) - 1)::int AS ord, id AS location_id
            FROM {table(StockLocation)};
            CREATE TEMP TABLE p4_sku ON COMMIT DROP AS
            SELECT (row_number() OVER (PARTITION BY left(code, 4) ORDER BY code) - 1)::int AS ord,
                   substr(code, 4, 1) AS kind, id AS sku_id, code
            FROM {table(Sku)} WHERE code LIKE 'p4-%%';
            CREATE UNIQUE INDEX ON p4_sku (kind, ord);
        """, [])
        n_loc = fetchone("SELECT count(*) FROM p4_loc")[0]
        execute(f"""
            CREATE TEMP TABLE p4_pkg ON COMMIT DROP AS
            SELECT r.id, l.location_id, (r.id - %(first)s) %% {BACK_EVERY} = 0 AS back
            FROM (SELECT g AS id, floor(random() * %(n_loc)s)::int AS ord
                  FROM generate_series(%(first)s, %(last)s) AS g) r
            JOIN p4_loc l USING (ord)
        """, {"first": first, "last": last, "n_loc": n_loc})
        insert_select(Package, {
            "id": "id", "number": "'P4-' || lpad(id::text, 9, '0')",
            "order_number": "'P4O-' || lpad(id::text, 9, '0')", "brand_id": ("%s", [brand.pk]),
            "location_id": "location_id", "delivery_type": "'ship'", "status": "920",
            "status_changed_at": ("%s::timestamptz - (%s - id) * interval '1 second'", [ref, last]),
            "placed_at": ("%s::timestamptz - interval '2 days'", [ref]),
            "created_at": ("%s::timestamptz - interval '2 days'", [ref]),
            "updated_at": ("%s::timestamptz - interval '1 day'", [ref]),
            "stock_checked_at": ("%s::timestamptz - interval '31 minutes'", [ref]),
            "next_stock_check_at": ("%s::timestamptz - interval '1 minute'", [ref]),
            "stock_shortage": "'short: (set-up)'",
            "ship_by": ("%s::timestamptz + interval '2 days'", [ref]),
        }, "FROM p4_pkg ORDER BY id")
        reset_sequence(Package)
        execute(f"""
            CREATE TEMP TABLE p4_item ON COMMIT DROP AS
            SELECT package_id, location_id, back, sku_id, {_case(units_cdf, "u_units")} AS quantity
            FROM (
                SELECT p.id AS package_id, p.location_id, p.back, s.sku_id, random() AS u_units
                FROM (SELECT id, location_id, back, floor(random() * {SKUS_PER_KIND})::int AS base,
                             {_case(lines_cdf, "u_lines")} AS lines
                      FROM (SELECT *, random() AS u_lines FROM p4_pkg) r) p
                CROSS JOIN LATERAL generate_series(0, p.lines - 1) AS j
                JOIN p4_sku s ON s.kind = CASE WHEN p.back THEN 'w' WHEN j = 0 THEN 'd' ELSE 'p' END
                             AND s.ord = (p.base + j) %% {SKUS_PER_KIND}
            ) x
        """, [])
        items = insert_select(PackageItem, {
            "package_id": "package_id", "sku_id": "sku_id", "quantity": "quantity",
            "unit_price": "19.90", "freight_value": "5.00"}, "FROM p4_item ORDER BY package_id, sku_id")
        insert_select(PackageTransition, {
            "package_id": "id", "from_status": "NULL", "to_status": "920", "action": "'create'",
            "actor": "'system:bench'", "reason": "''", "payload": "'{}'::jsonb",
            "created_at": ("%s::timestamptz - interval '2 days'", [ref])}, "FROM p4_pkg ORDER BY id")
        levels = insert_select(StockLevel, {
            "location_id": "location_id", "sku_id": "sku_id", "reserved": "0", "damaged": "0",
            "on_hand": "CASE kind WHEN 'w' THEN back_demand + floor(random() * 3)::int "
                       "WHEN 'p' THEN demand + 5 ELSE 0 END",
        }, """FROM (SELECT i.location_id, i.sku_id, s.kind, sum(i.quantity) AS demand,
                          coalesce(sum(i.quantity) FILTER (WHERE i.back), 0) AS back_demand
                   FROM p4_item i JOIN p4_sku s USING (sku_id)
                   GROUP BY i.location_id, i.sku_id, s.kind) d
              ORDER BY location_id, sku_id""")
        # the set-up's own shortage text, as a service would have written it
        execute(f"""
            UPDATE {table(Package)} p SET stock_shortage = x.text
            FROM (SELECT i.package_id, left('short: ' || string_agg(format('SKU %%s needs %%s, has 0', s.code,
                         i.quantity), '; ' ORDER BY s.code), 500) AS text
                  FROM p4_item i JOIN p4_sku s USING (sku_id) WHERE s.kind = 'd' GROUP BY i.package_id) x
            WHERE p.id = x.package_id
        """, [])
    for model in (Package, PackageItem, StockLevel, PackageTransition):
        execute(f"ANALYZE {table(model)}", [])
    return {"brand_id": brand.pk, "first": first, "last": last, "ref": ref, "items": items,
            "stock_levels": levels, "seconds": time.perf_counter() - started}


def restore(state: dict) -> None:
    """Put the P4 packages, stock rows, log and outbox back as ``setup`` left them."""
    Sku, StockLevel, _, OutboxEvent, _, Package, _, PackageTransition = _models()
    ref, last, brand_id = state["ref"], state["last"], state["brand_id"]
    with transaction.atomic():
        execute(f"""
            UPDATE {table(Package)} SET status = 920, version = 1,
                   status_changed_at = %s::timestamptz - (%s - id) * interval '1 second',
                   updated_at = %s::timestamptz - interval '1 day',
                   stock_checked_at = %s::timestamptz - interval '31 minutes',
                   next_stock_check_at = %s::timestamptz - interval '1 minute'
            WHERE brand_id = %s AND (status <> 920 OR version <> 1
                                     OR stock_checked_at <> %s::timestamptz - interval '31 minutes')
        """, [ref, last, ref, ref, ref, brand_id, ref])
        ids = f"(SELECT id FROM {table(Package)} WHERE brand_id = %s)"
        execute(f"DELETE FROM {table(PackageTransition)} WHERE action <> 'create' AND package_id IN {ids}",
                [brand_id])
        execute(f"DELETE FROM {table(OutboxEvent)} WHERE aggregate_type = 'package' "
                f"AND aggregate_id IN {ids}", [brand_id])
        execute(f"UPDATE {table(StockLevel)} SET reserved = 0 WHERE reserved <> 0 AND sku_id IN "
                f"(SELECT id FROM {table(Sku)} WHERE code LIKE 'p4-%%')", [])
        # the shortage text is not restored: both runs rewrite it for every still-short package
    execute(f"VACUUM ANALYZE {table(Package)}", [])


def snapshot(state: dict) -> dict:
    """Summarise the outcome of a run, to compare the service's with the SQL's."""
    Sku, StockLevel, _, OutboxEvent, _, Package, _, PackageTransition = _models()
    brand_id = state["brand_id"]
    row = fetchone(f"""
        SELECT count(*) FILTER (WHERE status = 200),
               md5(string_agg(id::text, ',' ORDER BY id) FILTER (WHERE status = 200)),
               count(*) FILTER (WHERE status = 920),
               md5(string_agg(id::text || ':' || stock_shortage, '|' ORDER BY id)
                   FILTER (WHERE status = 920)),
               count(*) FILTER (WHERE status = 920 AND stock_checked_at > %s)
        FROM {table(Package)} WHERE brand_id = %s""", [state["ref"], brand_id])
    stock = fetchone(f"""SELECT sum(reserved), md5(string_agg(id::text || ':' || reserved, ',' ORDER BY id))
                         FROM {table(StockLevel)} WHERE sku_id IN
                         (SELECT id FROM {table(Sku)} WHERE code LIKE 'p4-%%')""", [])
    ids = f"(SELECT id FROM {table(Package)} WHERE brand_id = %s)"
    logs = fetchone(f"SELECT count(*) FROM {table(PackageTransition)} WHERE action = 'reschedule' "
                    f"AND package_id IN {ids}", [brand_id])[0]
    events = fetchone(f"SELECT count(*) FROM {table(OutboxEvent)} WHERE aggregate_type = 'package' "
                      f"AND aggregate_id IN {ids}", [brand_id])[0]
    return {"rescheduled": row[0], "rescheduled_ids": row[1], "still_short": row[2],
            "shortage_texts": row[3], "still_short_stamped": row[4], "reserved_units": stock[0],
            "reserved_rows": stock[1], "log_rows": logs, "events": events}


# --- the two contenders -----------------------------------------------------------------------

def run_service(state: dict) -> tuple[float, dict]:
    from packages.rescheduling import package_recheck_out_of_stock

    now = timezone.now()
    started = time.perf_counter()
    result = package_recheck_out_of_stock(brand_id=state["brand_id"], now=now)
    seconds = time.perf_counter() - started
    return seconds, {"rescheduled": len(result.rescheduled), "still_short": result.still_short,
                     "skipped": result.skipped}


def recheck_sql(*, brand_id: int, now: dt.datetime, interval_minutes: int) -> tuple[str, list]:
    """Return the one statement (and its parameters) that re-checks a brand set-based.

    Reschedules every due Product Out of Stock package whose items its location covers, oldest
    first (a package fits when each of its lines fits alone and the running demand of the
    older fitting packages on each stock row still fits: the service's outcome whenever those
    packages do not compete for the last units), reserving their units, writing their log row
    and outbox event; stamps the others with the shortage and their next check.
    """
    Sku, StockLevel, StockLocation, OutboxEvent, Brand, Package, PackageItem, PackageTransition = _models()
    from packages.models import status_dict

    q = connection.ops.quote_name
    log_cols, log_exprs, log_params = insert_columns(PackageTransition, {
        "package_id": "m.id", "from_status": "920", "to_status": "200", "action": "'reschedule'",
        "actor": f"'{ACTOR}'", "actor_user_id": "NULL", "reason": "''", "payload": "'{}'::jsonb",
        "created_at": ("%s", [now])})
    from_status, to_status = json.dumps(status_dict(920)), json.dumps(status_dict(200))
    out_cols, out_exprs, out_params = insert_columns(OutboxEvent, {
        "uuid": "gen_random_uuid()", "type": "'package.status.transitioned'", "aggregate_type": "'package'",
        "aggregate_id": "m.id", "created_at": ("%s", [now]), "dispatched_at": "NULL",
        "payload": ("""jsonb_build_object(
            'package', jsonb_build_object(
                'id', m.id, 'number', m.number, 'order_number', m.order_number, 'brand', b.slug,
                'location', l.code, 'delivery_type', m.delivery_type, 'status', %s::jsonb,
                'version', m.version, 'ship_by', m.ship_by, 'carrier', m.carrier,
                'tracking_number', m.tracking_number, 'invoice_number', m.invoice_number,
                'invoice_date', m.invoice_date, 'blocked', NULL,
                'replaces', r.number, 'split_from', sf.number, 'items', it.items),
            'transition', jsonb_build_object('action', 'reschedule', 'from_status', %s::jsonb,
                'to_status', %s::jsonb, 'actor', %s::text, 'reason', ''))""",
                    [to_status, from_status, to_status, ACTOR]),
    })
    pkg, item, lvl, sku = q(Package._meta.db_table), q(PackageItem._meta.db_table), q(
        StockLevel._meta.db_table), q(Sku._meta.db_table)
    sql = f"""
        WITH cand AS (
            SELECT id, location_id, status_changed_at FROM {pkg}
            WHERE brand_id = %s AND status = 920 AND blocked_at IS NULL
              AND (next_stock_check_at <= %s OR next_stock_check_at IS NULL)
        ), need AS (
            SELECT c.id AS package_id, c.status_changed_at, i.sku_id, i.quantity, s.id AS level_id,
                   coalesce(s.on_hand - s.reserved, 0) AS free
            FROM cand c JOIN {item} i ON i.package_id = c.id
            LEFT JOIN {lvl} s ON s.location_id = c.location_id AND s.sku_id = i.sku_id
        ), fits AS (
            SELECT package_id FROM need GROUP BY package_id HAVING bool_and(free >= quantity)
        ), running AS (
            SELECT n.package_id, n.free, sum(n.quantity) OVER (
                PARTITION BY n.level_id ORDER BY n.status_changed_at, n.package_id) AS running
            FROM need n JOIN fits USING (package_id)
        ), ok AS (
            SELECT package_id FROM running GROUP BY package_id HAVING bool_and(running <= free)
        ), reserve AS (
            UPDATE {lvl} s SET reserved = s.reserved + d.units, updated_at = %s
            FROM (SELECT n.level_id, sum(n.quantity) AS units FROM need n JOIN ok USING (package_id)
                  GROUP BY n.level_id) d
            WHERE s.id = d.level_id RETURNING s.id
        ), moved AS (
            UPDATE {pkg} p SET status = 200, version = p.version + 1, status_changed_at = %s, updated_at = %s
            FROM ok WHERE p.id = ok.package_id AND p.status = 920 AND p.blocked_at IS NULL
            RETURNING p.id, p.number, p.order_number, p.brand_id, p.location_id, p.delivery_type, p.version,
                      p.ship_by, p.carrier, p.tracking_number, p.invoice_number, p.invoice_date,
                      p.replaces_id, p.split_from_id
        ), logged AS (
            INSERT INTO {q(PackageTransition._meta.db_table)} ({', '.join(log_cols)})
            SELECT {', '.join(log_exprs)} FROM moved m RETURNING 1
        ), events AS (
            INSERT INTO {q(OutboxEvent._meta.db_table)} ({', '.join(out_cols)})
            SELECT {', '.join(out_exprs)}
            FROM moved m JOIN {q(Brand._meta.db_table)} b ON b.id = m.brand_id
            JOIN {q(StockLocation._meta.db_table)} l ON l.id = m.location_id
            LEFT JOIN {pkg} r ON r.id = m.replaces_id
            LEFT JOIN {pkg} sf ON sf.id = m.split_from_id
            JOIN (SELECT i.package_id, jsonb_agg(jsonb_build_object('sku', k.code, 'quantity', i.quantity)
                                                 ORDER BY i.id) AS items
                  FROM {item} i JOIN {sku} k ON k.id = i.sku_id JOIN ok ON ok.package_id = i.package_id
                  GROUP BY i.package_id) it ON it.package_id = m.id
            RETURNING 1
        ), short AS (
            UPDATE {pkg} p SET stock_checked_at = %s, next_stock_check_at = %s, stock_shortage = x.text
            FROM (SELECT n.package_id, left('short: ' || string_agg(format('SKU %%s needs %%s, has %%s',
                         k.code, n.quantity, greatest(n.free, 0)), '; ' ORDER BY k.code), 500) AS text
                  FROM need n JOIN {sku} k ON k.id = n.sku_id
                  WHERE n.free < n.quantity GROUP BY n.package_id) x
            WHERE p.id = x.package_id RETURNING 1
        )
        SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM short), (SELECT count(*) FROM logged),
               (SELECT count(*) FROM events), (SELECT count(*) FROM reserve)
    """
    params = [brand_id, now, now, now, now, *log_params, *out_params,
              now, now + dt.timedelta(minutes=interval_minutes)]
    return sql, params


def run_sql(state: dict) -> tuple[float, dict]:
    from packages.models import Brand

    interval = Brand.objects.get(pk=state["brand_id"]).recheck_interval_minutes
    now = timezone.now()
    sql, params = recheck_sql(brand_id=state["brand_id"], now=now, interval_minutes=interval)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        moved, short, logged, events, rows = cursor.fetchone()
    seconds = time.perf_counter() - started
    return seconds, {"rescheduled": moved, "still_short": short, "log_rows": logged, "events": events}


# --- command ----------------------------------------------------------------------------------

def run(*, packages: int = 20_000, repeat: int = 3, keep: bool = False, quiet: bool = False) -> dict:
    state = setup(packages)
    service_s, sql_s, mismatches = [], [], []
    service_out = sql_out = None
    try:
        for _ in range(repeat):
            seconds, service_out = run_service(state)
            service_s.append(seconds)
            after_service = snapshot(state)
            restore(state)
            seconds, sql_out = run_sql(state)
            sql_s.append(seconds)
            after_sql = snapshot(state)
            restore(state)
            mismatches += [k for k in after_service if after_service[k] != after_sql[k]]
    finally:
        if not keep:
            cleanup()
    result = {
        "packages": packages, "repeat": repeat, "setup_seconds": state["seconds"],
        "service_seconds": service_s, "sql_seconds": sql_s, "service_outcome": service_out,
        "sql_outcome": sql_out, "outcome_snapshot": after_service, "mismatches": sorted(set(mismatches)),
    }
    result["ratio"] = median(service_s) / median(sql_s)
    result["target_met"] = result["ratio"] <= TARGET_RATIO and not result["mismatches"]
    if not quiet:
        print_table(result)
    return result


def print_table(r: dict) -> None:
    t = Table(f"P4 re-check of {r['packages']:,} Product Out of Stock packages (10 % back), "
              f"median of {r['repeat']}",
              ["what", "seconds", "packages/s", "rescheduled", "still short", "x set-based SQL", "target",
               "verdict"])
    s, q = median(r["service_seconds"]), median(r["sql_seconds"])
    t.add("package_recheck_out_of_stock", s, r["packages"] / s, r["service_outcome"]["rescheduled"],
          r["service_outcome"]["still_short"], f"{r['ratio']:.1f}x", f"<= {TARGET_RATIO:.0f}x",
          verdict(r["target_met"]))
    t.add("one set-based SQL statement", q, r["packages"] / q, r["sql_outcome"]["rescheduled"],
          r["sql_outcome"]["still_short"], "1.0x", "", "")
    t.print()
    same = "identical" if not r["mismatches"] else f"DIFFERENT in {', '.join(r['mismatches'])}"
    print(f"  outcome of the two (packages, reserved units per stock row, shortage texts, log rows, "
          f"events): {same}")


def main(argv=None) -> None:
    parser = base_parser("P4: automatic re-check vs one set-based SQL statement.", db="oms_bench")
    parser.add_argument("--packages", type=int, default=20_000,
                        help="out-of-stock packages (default 20,000; the issue's figure is 100,000)")
    parser.add_argument("--base", type=int, default=100_000, help="base dataset size if it must be generated")
    parser.add_argument("--keep", action="store_true", help="leave the P4 packages in the database")
    args = parser.parse_args(argv)
    bootstrap(args.db)
    require_postgresql()
    ensure_dataset(DatasetSpec(packages=args.base))
    result = run(packages=args.packages, repeat=args.repeat, keep=args.keep)
    print(f"  re-run with: {rerun_command('bench.p4_recheck', args)}")
    print(f"  results: {save_results(f'p4_recheck_{args.packages}', result, args.json)}")


if __name__ == "__main__":
    main()
