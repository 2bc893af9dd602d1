"""P5: the Olist import (``demo.olist_import.olist_import``): item rows/s and peak memory,
against a raw-SQL import writing the same rows in the same process and database.

    .venv/bin/python -m bench.p5_import                 # the 4,000-row sample x2, 3 runs
    .venv/bin/python -m bench.p5_import --scale 25      # 100,000 item rows (opt-in)

The files: ``$OLIST_DIR`` (your download of the Olist data), else a set generated in the
sample's shape (``bench.harness.olist_files``). ``--scale K`` repeats ``order_items.csv`` K
times with new order ids (``<order_id>r<k>``), same sellers and products, raw lines kept as
they are (dirty rows stay dirty). Every run starts from empty tables in the database ``--db``
(default ``oms_bench_import``).

The baseline (``raw_sql_import``) reads the same CSVs with ``csv``, COPYs the order items into
a staging table and writes locations, SKUs, seeded stock rows (the importer's md5 formula),
packages, items, reservations, ``create`` log rows and ``package.created`` outbox events with
``INSERT … SELECT`` statements in one transaction. It places each package Pending when its
location covers it (earliest ship-by first) and Product Out of Stock otherwise: it plans no
transfers, so the handful of Pending Transfer packages of the importer are out of stock there.
Target (issue 8): at least 40 % of the raw-SQL import's item rows/s.

Every run empties the dataset's tables first (``bench.datagen.reset_tables``): only in a
database a benchmark created (``--db``, default ``oms_bench_import``; marked), never in another.
"""

from __future__ import annotations

import csv
import io
import re
import resource
import time
import tracemalloc
from pathlib import Path

from bench.harness import (
    RESULTS_DIR,
    Table,
    base_parser,
    bootstrap,
    median,
    olist_files,
    raw_connection,
    require_postgresql,
    rerun_command,
    save_results,
    verdict,
)

TARGET_RATIO = 0.40
ITEM_COLUMNS = ("order_id", "order_item_id", "product_id", "seller_id", "shipping_limit_date",
                "price", "freight_value")
_FIRST_FIELD = re.compile(r'^(\s*"?)([^",]*)(.*)$', re.DOTALL)


# --- input ------------------------------------------------------------------------------------

def scaled_directory(scale: int, *, source: Path | None = None, target_root: Path = RESULTS_DIR,
                     max_rows: int | None = None) -> Path:
    """Return a directory with the Olist files and ``order_items.csv`` repeated ``scale`` times
    (``source`` itself when ``scale`` is 1 and no ``max_rows`` cut is asked); ``source``
    defaults to ``bench.harness.olist_files()``."""
    source = source or olist_files()
    if scale == 1 and max_rows is None:
        return source
    target = target_root / (f"olist_x{scale}" + ("" if max_rows is None else f"_{max_rows}"))
    target.mkdir(parents=True, exist_ok=True)
    for name in ("sellers.csv", "products.csv", "product_category_name_translation.csv"):
        if (source / name).is_file():
            (target / name).write_bytes((source / name).read_bytes())
    raw = (source / "order_items.csv").read_bytes().splitlines(keepends=True)
    header, rows = raw[0], raw[1:]
    if max_rows is not None:
        rows = rows[:max_rows]
    out = [header]
    for copy in range(scale):
        if copy == 0:
            out += rows
            continue
        for line in rows:
            text = line.decode("latin-1")
            match = _FIRST_FIELD.match(text)
            if match and match.group(2).strip():
                text = f"{match.group(1)}{match.group(2).strip()}r{copy}{match.group(3)}"
            out.append(text.encode("latin-1"))
    (target / "order_items.csv").write_bytes(b"".join(out))
    return target


def item_row_count(directory: Path) -> int:
    with open(directory / "order_items.csv", "rb") as f:
        return sum(1 for line in f if line.strip()) - 1


# --- the importer -----------------------------------------------------------------------------

def reset_import_tables() -> None:
    from bench.datagen import reset_tables

    reset_tables()


def run_importer(directory: Path, *, trace_memory: bool = False) -> dict:
    """Run ``olist_import`` on empty tables; return seconds, rows, statuses and peak memory."""
    from demo.olist_import import olist_import

    reset_import_tables()
    if trace_memory:
        tracemalloc.start()
    started = time.perf_counter()
    report = olist_import(directory=directory)
    seconds = time.perf_counter() - started
    peak = None
    if trace_memory:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {"seconds": seconds, "rows": report.item_rows_read, "packages": report.packages_created,
            "by_status": {int(k): v for k, v in report.packages_by_status.items()},
            "skipped": len(report.skipped), "peak_bytes": peak}


# --- the raw-SQL baseline ---------------------------------------------------------------------

def _read_csv(path: Path) -> list[list[str]]:
    text = path.read_bytes().decode("utf-8", errors="replace").replace("\x00", "")
    return [row for row in csv.reader(io.StringIO(text), skipinitialspace=True) if row]


def _tsv(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", " ").replace("\n", " ").replace("\r", " ")


def raw_sql_import(directory: Path, *, brand_slug: str = "olist") -> dict:
    """Write what the importer writes with set-based SQL (see the module doc); return counts."""
    from django.db import connection

    from bench.sql import insert_columns
    from locations.models import Sku, StockLevel, StockLocation
    from oms.events.models import OutboxEvent
    from packages.models import Brand, Package, PackageItem, PackageTransition

    reset_import_tables()
    started = time.perf_counter()
    q = connection.ops.quote_name
    t_loc, t_sku, t_lvl = (q(m._meta.db_table) for m in (StockLocation, Sku, StockLevel))
    t_pkg, t_item, t_log, t_out, t_brand = (q(m._meta.db_table) for m in (
        Package, PackageItem, PackageTransition, OutboxEvent, Brand))

    def insert(cursor, model, values: dict, source: str, params=(), suffix: str = "") -> int:
        columns, expressions, defaults = insert_columns(model, values)
        cursor.execute(f"INSERT INTO {q(model._meta.db_table)} ({', '.join(columns)}) "
                       f"SELECT {', '.join(expressions)} {source} {suffix}", [*defaults, *params])
        return cursor.rowcount

    sellers = _read_csv(directory / "sellers.csv")[1:]
    products = _read_csv(directory / "products.csv")[1:]
    items = _read_csv(directory / "order_items.csv")
    buffer = io.StringIO()
    for line, row in enumerate(items[1:], start=2):
        if len(row) >= len(ITEM_COLUMNS):
            buffer.write("\t".join([str(line), *(_tsv(v.strip().strip("\"'")) for v in row[:7])]) + "\n")
    conn = raw_connection()
    counts = {}
    try:
        with conn.cursor() as cur:
            insert(cur, StockLocation, {
                "code": "c", "name": "left(coalesce(nullif(city, ''), 'Seller') || ' · ' || left(c, 8), 200)",
                "city": "left(city, 100)", "region": "upper(left(state, 100))", "postcode": "left(zip, 20)",
                "kind": "'warehouse'", "is_active": "true", "can_package": "true", "is_pickup_point": "false",
            }, "FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS u(c, zip, city, state) "
               "WHERE c ~ '^[A-Za-z0-9_.:-]{1,64}$'",
               [[r[0].strip() for r in sellers], [(r + [""] * 4)[1] for r in sellers],
                [(r + [""] * 4)[2] for r in sellers], [(r + [""] * 4)[3] for r in sellers]],
               "ON CONFLICT (code) DO NOTHING")
            insert(cur, Sku, {"code": "c", "name": "'Product ' || left(c, 8)", "category": "left(cat, 100)"},
                   "FROM unnest(%s::text[], %s::text[]) AS u(c, cat) WHERE c ~ '^[A-Za-z0-9_.:-]{1,64}$'",
                   [[r[0].strip() for r in products], [(r + [""])[1] for r in products]],
                   "ON CONFLICT (code) DO NOTHING")
            insert(cur, Brand, {"slug": ("%s", [brand_slug]), "name": "'Olist'", "requires_invoice": "true",
                                "requires_shipping_label": "true"}, "", (), "ON CONFLICT (slug) DO NOTHING")
            cur.execute(f"SELECT id, recheck_interval_minutes FROM {t_brand} WHERE slug = %s", [brand_slug])
            brand_id, interval = cur.fetchone()
            cur.execute("""CREATE TEMP TABLE s_items (line int, order_id text, item_id text, product_id text,
                           seller_id text, ship text, price text, freight text) ON COMMIT DROP""")
            with cur.copy("COPY s_items FROM STDIN") as copy:
                copy.write(buffer.getvalue())
            cur.execute(f"""
                CREATE TEMP TABLE s_valid ON COMMIT DROP AS
                SELECT s.*, l.id AS location_id, k.id AS sku_id,
                       s.order_id ~ '^[A-Za-z0-9_.:-]{{1,64}}$'
                         AND s.ship ~ '^\\d{{4}}-\\d{{2}}-\\d{{2}}[ T]\\d{{2}}:\\d{{2}}(:\\d{{2}})?$'
                         AND s.price ~ '^\\d+([.,]\\d+)?$' AND s.freight ~ '^(\\d+([.,]\\d+)?)?$'
                         AND l.id IS NOT NULL AND k.id IS NOT NULL AS ok
                FROM s_items s LEFT JOIN {t_loc} l ON l.code = s.seller_id
                LEFT JOIN {t_sku} k ON k.code = s.product_id;
                CREATE TEMP TABLE s_rank ON COMMIT DROP AS
                SELECT order_id, seller_id,
                       row_number() OVER (PARTITION BY order_id ORDER BY min(line)) AS rank,
                       bool_and(ok) AS ok
                FROM s_valid WHERE order_id <> '' AND seller_id <> '' GROUP BY order_id, seller_id;
                CREATE TEMP TABLE s_line ON COMMIT DROP AS
                SELECT v.order_id, v.seller_id, v.location_id, v.sku_id, count(*)::int AS quantity,
                       (array_agg(replace(v.price, ',', '.')::numeric(12, 2) ORDER BY v.line))[1]
                         AS unit_price,
                       sum(coalesce(nullif(replace(v.freight, ',', '.'), '')::numeric(12, 2), 0)) AS freight,
                       min(v.line) AS first_line,
                       min((v.ship::timestamp) AT TIME ZONE 'America/Sao_Paulo') AS ship_by
                FROM s_valid v JOIN s_rank r USING (order_id, seller_id)
                WHERE r.ok GROUP BY v.order_id, v.seller_id, v.location_id, v.sku_id;
                CREATE TEMP TABLE s_pkg ON COMMIT DROP AS
                SELECT l.order_id, l.seller_id, min(l.location_id) AS location_id,
                       l.order_id || '-' || r.rank AS number,
                       'olist:' || l.order_id || ':' || l.seller_id AS external_ref,
                       min(l.ship_by) AS ship_by, min(l.first_line) AS first_line
                FROM s_line l JOIN s_rank r USING (order_id, seller_id)
                GROUP BY l.order_id, l.seller_id, r.rank;
                ANALYZE s_valid; ANALYZE s_rank; ANALYZE s_line; ANALYZE s_pkg;
            """)
            counts["stock_levels"] = insert(cur, StockLevel, {
                "location_id": "location_id", "sku_id": "sku_id", "on_hand":
                    "CASE WHEN mod(d, 100) < 9 THEN 0 ELSE units + mod(div(d, 100), 3)::int END",
                "reserved": "0", "damaged": "0",
            }, f"""FROM (SELECT l.location_id, l.sku_id, sum(l.quantity) AS units,
                               ('x' || lpad(substr(md5(l.seller_id || '|' || k.code), 1, 8), 16, '0'))
                                 ::bit(64)::bigint::numeric * 4294967296
                               + ('x' || lpad(substr(md5(l.seller_id || '|' || k.code), 9, 8), 16, '0'))
                                 ::bit(64)::bigint AS d
                        FROM s_line l JOIN {t_sku} k ON k.id = l.sku_id GROUP BY l.location_id, l.sku_id,
                             l.seller_id, k.code) x""", (), "ON CONFLICT (location_id, sku_id) DO NOTHING")
            # Earliest ship-by first: a package is Pending when every line fits alone and the
            # running demand of the earlier fitting packages on each stock row still fits.
            cur.execute(f"""
                CREATE TEMP TABLE s_place ON COMMIT DROP AS
                WITH need AS (
                    SELECT p.number, p.ship_by, p.first_line, l.quantity, s.id AS level_id,
                           coalesce(s.on_hand - s.reserved, 0) AS free, k.code
                    FROM s_pkg p JOIN s_line l USING (order_id, seller_id)
                    JOIN {t_sku} k ON k.id = l.sku_id
                    LEFT JOIN {t_lvl} s ON s.location_id = l.location_id AND s.sku_id = l.sku_id),
                fits AS (SELECT number FROM need GROUP BY number HAVING bool_and(free >= quantity)),
                running AS (
                    SELECT n.number, n.free, sum(n.quantity) OVER (
                        PARTITION BY n.level_id ORDER BY n.ship_by NULLS LAST, n.first_line) AS running
                    FROM need n JOIN fits USING (number)),
                ok AS (SELECT number FROM running GROUP BY number HAVING bool_and(running <= free))
                SELECT p.*, CASE WHEN ok.number IS NULL THEN 920 ELSE 100 END AS status,
                       CASE WHEN ok.number IS NULL THEN coalesce(short.text, '') ELSE '' END AS shortage
                FROM s_pkg p LEFT JOIN ok USING (number)
                LEFT JOIN (SELECT number, left('short: ' || string_agg(format('SKU %%s needs %%s, has %%s',
                                  code, quantity, greatest(free, 0)), '; ' ORDER BY code), 500) AS text
                           FROM need WHERE free < quantity GROUP BY number) short USING (number);
                ANALYZE s_place;
            """)
            counts["packages"] = insert(cur, Package, {
                "number": "number", "order_number": "order_id", "brand_id": ("%s", [brand_id]),
                "location_id": "location_id", "delivery_type": "'ship'", "status": "status",
                "ship_by": "ship_by", "external_ref": "external_ref",
                "stock_shortage": "coalesce(shortage, '')",
                "stock_checked_at": "CASE WHEN status = 920 THEN now() END",
                "next_stock_check_at": ("CASE WHEN status = 920 THEN now() + %s * interval '1 minute' END",
                                        [interval]),
            }, "FROM s_place ORDER BY ship_by NULLS LAST, first_line")
            counts["items"] = insert(cur, PackageItem, {
                "package_id": "p.id", "sku_id": "l.sku_id", "quantity": "l.quantity",
                "unit_price": "l.unit_price", "freight_value": "l.freight",
            }, f"FROM s_line l JOIN s_pkg s USING (order_id, seller_id) "
               f"JOIN {t_pkg} p ON p.number = s.number")
            cur.execute(f"""
                UPDATE {t_lvl} s SET reserved = s.reserved + d.units, updated_at = now()
                FROM (SELECT l.location_id, l.sku_id, sum(l.quantity) AS units
                      FROM s_line l JOIN s_place p USING (order_id, seller_id) WHERE p.status = 100
                      GROUP BY l.location_id, l.sku_id) d
                WHERE s.location_id = d.location_id AND s.sku_id = d.sku_id""")
            counts["transitions"] = insert(cur, PackageTransition, {
                "package_id": "p.id", "from_status": "NULL", "to_status": "p.status", "action": "'create'",
                "actor": "'system:import:olist'", "reason": "p.stock_shortage", "payload": "'{}'::jsonb",
                "created_at": "now()",
            }, f"FROM s_pkg s JOIN {t_pkg} p ON p.number = s.number")
            counts["events"] = insert(cur, OutboxEvent, {
                "uuid": "gen_random_uuid()", "type": "'package.created'", "aggregate_type": "'package'",
                "aggregate_id": "p.id", "dispatched_at": "NULL",
                "payload": ("""jsonb_build_object(
                    'package', jsonb_build_object(
                        'id', p.id, 'number', p.number, 'order_number', p.order_number, 'brand', %s,
                        'location', l.code, 'delivery_type', p.delivery_type,
                        'status', jsonb_build_object('code', p.status),
                        'version', p.version, 'ship_by', p.ship_by, 'carrier', p.carrier,
                        'tracking_number', p.tracking_number, 'invoice_number', p.invoice_number,
                        'invoice_date', p.invoice_date, 'blocked', NULL, 'replaces', NULL,
                        'split_from', NULL,
                        'items', it.items),
                    'transition', jsonb_build_object('action', 'create', 'from_status', NULL,
                        'to_status', jsonb_build_object('code', p.status), 'actor', 'system:import:olist',
                        'reason', p.stock_shortage))""", [brand_slug]),
            }, f"""FROM s_pkg s JOIN {t_pkg} p ON p.number = s.number JOIN {t_loc} l ON l.id = p.location_id
                   JOIN (SELECT i.package_id,
                                jsonb_agg(jsonb_build_object('sku', k.code, 'quantity', i.quantity)
                                          ORDER BY i.id) AS items
                         FROM {t_item} i JOIN {t_sku} k ON k.id = i.sku_id
                         WHERE i.package_id IN (SELECT p2.id FROM s_pkg s2
                                                JOIN {t_pkg} p2 ON p2.number = s2.number)
                         GROUP BY i.package_id) it ON it.package_id = p.id""")
            cur.execute(f"SELECT status, count(*) FROM {t_pkg} GROUP BY status")
            counts["by_status"] = dict(cur.fetchall())
        conn.commit()
    finally:
        conn.close()
    counts["seconds"] = time.perf_counter() - started
    counts["rows"] = len(items) - 1
    return counts


# --- command ----------------------------------------------------------------------------------

def run(*, scale: int = 2, repeat: int = 3, memory: bool = True, max_rows: int | None = None,
        quiet: bool = False) -> dict:
    """Measure importer and baseline ``repeat`` times each, interleaved; return the results."""
    directory = scaled_directory(scale, max_rows=max_rows)
    importer, baseline = [], []
    for _ in range(repeat):
        importer.append(run_importer(directory))
        baseline.append(raw_sql_import(directory))
    rows = importer[0]["rows"]
    orm_s, raw_s = median(r["seconds"] for r in importer), median(r["seconds"] for r in baseline)
    result = {
        "scale": scale, "directory": str(directory), "item_rows": rows, "repeat": repeat,
        "importer_seconds": [r["seconds"] for r in importer],
        "baseline_seconds": [r["seconds"] for r in baseline],
        "importer_rows_per_second": rows / orm_s, "baseline_rows_per_second": baseline[0]["rows"] / raw_s,
        "importer_by_status": importer[0]["by_status"], "baseline_by_status": baseline[0]["by_status"],
        "importer_packages": importer[0]["packages"], "baseline_packages": baseline[0]["packages"],
        "skipped_rows": importer[0]["skipped"],
    }
    result["ratio"] = result["importer_rows_per_second"] / result["baseline_rows_per_second"]
    result["target_met"] = result["ratio"] >= TARGET_RATIO
    if memory:
        traced = run_importer(directory, trace_memory=True)
        result["peak_traced_mib"] = traced["peak_bytes"] / 2**20
        result["traced_run_seconds"] = traced["seconds"]
    result["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if not quiet:
        print_table(result)
    return result


def print_table(r: dict) -> None:
    table = Table(f"P5 Olist import: {r['item_rows']:,} item rows (scale x{r['scale']}), "
                  f"median of {r['repeat']}",
                  ["what", "seconds", "item rows/s", "packages", "vs raw SQL", "target", "verdict"])
    table.add("olist_import (ORM services)", median(r["importer_seconds"]), r["importer_rows_per_second"],
              r["importer_packages"], f"{r['ratio']:.0%}", f">= {TARGET_RATIO:.0%} of raw SQL",
              verdict(r["target_met"]))
    table.add("raw SQL (COPY + INSERT … SELECT)", median(r["baseline_seconds"]),
              r["baseline_rows_per_second"], r["baseline_packages"], "100%", "", "")
    table.print()
    print(f"  starting states, importer: {r['importer_by_status']}  raw SQL: {r['baseline_by_status']}")
    if "peak_traced_mib" in r:
        print(f"  peak Python memory of one import (tracemalloc): {r['peak_traced_mib']:.1f} MiB; "
              f"process max RSS: {r['max_rss_mib']:.0f} MiB")


def main(argv=None) -> None:
    parser = base_parser("P5: Olist import throughput and memory vs raw SQL.", db="oms_bench_import")
    parser.add_argument("--scale", type=int, default=2,
                        help="copies of order_items.csv (default 2: 8,000 rows)")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc run")
    args = parser.parse_args(argv)
    bootstrap(args.db)
    require_postgresql()
    result = run(scale=args.scale, repeat=args.repeat, memory=not args.no_memory)
    print(f"  re-run with: {rerun_command('bench.p5_import', args)}")
    print(f"  results: {save_results(f'p5_import_x{args.scale}', result, args.json)}")


if __name__ == "__main__":
    main()
