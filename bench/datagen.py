"""Generate a benchmark dataset: N packages across 3,095 stock locations, set-based in SQL.

    .venv/bin/python -m bench.datagen --packages 100000            # into oms_bench
    .venv/bin/python -m bench.datagen --packages 1000000 --db oms_bench_1m

What it writes (everything in one transaction, ``INSERT … SELECT generate_series`` inside
PostgreSQL, no ORM row objects; 1M packages take about 4 minutes on the 2-core machine):

* 3,095 stock locations (the Olist seller ids of ``sellers.csv``, padded with synthetic codes)
  and the Olist products as SKUs (the files of ``$OLIST_DIR``, else a set generated in the
  sample's shape: ``bench.harness.olist_files``); one brand ``bench`` (label and invoice required, like the
  Olist import);
* packages spread over the locations by a Zipf-like weight (rank^-0.7: the busiest location
  gets about 3 %, the quietest about 0.01 %), each location picking from its own catalogue
  of SKUs (5 plus one per 40 expected packages);
* items per package and units per item drawn from ``order_items.csv`` (grouped by order
  and seller as the importer does: 97.8 % one line, 1.9 % two, …; 92.9 % one unit, …);
* states: ``open`` packages (exactly ``--open``, default 4 % of N) in the open states of
  ``OPEN_MIX``, the rest history (``HISTORY_MIX``: mostly Delivered and Canceled);
  Pending Transfer is left out because it needs transfer rows;
* a transition log of one ``create`` row per package plus the row of its last action;
* stock rows for every catalogue pair, consistent with the states: ``reserved`` = the units
  of the open reserving packages (Pending, In Progress, Ready to Packaging, and Pending
  Cancellation requested from In Progress), ``on_hand`` = reserved + 0–19 spare units, and
  no spare unit on a pair that a Product Out of Stock package needs (so each of them is
  really short, and its ``stock_shortage`` says so);
* ``VACUUM ANALYZE`` at the end, as autovacuum would do on a database that has been
  running for a while (visibility map set, so index-only scans are possible).

The dataset is recorded in the table ``bench_dataset``; ``ensure_dataset`` regenerates only
when the spec differs or the package count no longer matches.
"""

from __future__ import annotations

import csv
import json
import math
import re
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from django.db import transaction

from bench.harness import base_parser, bootstrap, olist_files, require_marked, require_postgresql
from bench.sql import execute, fetchone, insert_select, reset_sequence, table

LOCATIONS = 3095
BASE_BRAND = "bench"
SLOTS = 100_000  # resolution of the location weights
ZIPF_EXPONENT = 0.7
OPEN_SHARE = 0.04
RESERVING = (100, 200, 400, 850)  # 850 here is always requested from 200 (see LAST_ACTION)

# Shares of the open packages by state (operators still work on them).
OPEN_MIX = ((100, 0.30), (200, 0.20), (400, 0.05), (500, 0.12), (550, 0.05), (560, 0.05),
            (600, 0.03), (850, 0.02), (920, 0.15), (930, 0.03))
# Shares of the history (closed or with the carrier).
HISTORY_MIX = ((800, 0.868), (900, 0.085), (700, 0.03), (720, 0.008), (710, 0.004), (910, 0.005))
# state -> (from_status, action) of the last log row; "cc" rows apply to click-and-collect.
LAST_ACTION = {
    200: (100, "start_preparing"), 400: (300, "transfers_arrived"), 500: (200, "complete_packaging"),
    550: (500, "ship"), 560: (500, "ship"), 600: (500, "mark_ready_for_pickup"), 700: (500, "ship"),
    710: (700, "mark_delivery_failed"), 720: (700, "record_delivery_attempt"),
    800: (700, "mark_delivered"), 850: (200, "request_cancellation"), 900: (100, "cancel"),
    910: (200, "report_defective"), 930: (100, "refuse"),
}
LAST_ACTION_CC = {800: (600, "hand_over")}
SHIP_ONLY = (550, 560, 700, 710, 720)
CLICK_AND_COLLECT_SHARE = 0.05
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


@dataclass(frozen=True)
class DatasetSpec:
    """What to generate. ``open_packages`` None means ``OPEN_SHARE`` of ``packages``."""

    packages: int
    open_packages: int | None = None
    locations: int = LOCATIONS
    seed: float = 0.42

    @property
    def open_count(self) -> int:
        if self.open_packages is not None:
            return min(self.open_packages, self.packages)
        return round(self.packages * OPEN_SHARE)


# --- Olist distributions ----------------------------------------------------------------------

Cdf = list[tuple[int, float]]


def olist_distributions(olist_dir: Path | None = None) -> tuple[Cdf, Cdf]:
    """Return cumulative ``[(value, cdf)]`` for lines per package and units per line, from
    ``order_items.csv`` grouped by (order, seller) and product as the importer does."""
    groups: dict[tuple[str, str], Counter] = defaultdict(Counter)
    olist_dir = olist_dir or olist_files()
    with open(olist_dir / "order_items.csv", newline="", encoding="utf-8", errors="replace") as f:
        for row in csv.DictReader(f):
            order, seller, product = (row.get(k, "").strip().strip('"') for k in
                                      ("order_id", "seller_id", "product_id"))
            if order and seller and product:
                groups[order, seller][product] += 1
    lines = Counter(len(c) for c in groups.values())
    units = Counter(q for c in groups.values() for q in c.values())
    return _cdf(lines), _cdf(units)


def _cdf(counter: Counter) -> list[tuple[int, float]]:
    total, running, out = sum(counter.values()), 0, []
    for value in sorted(counter):
        running += counter[value]
        out.append((value, running / total))
    out[-1] = (out[-1][0], 1.0)
    return out


def _case(cdf: list[tuple[int, float]], variable: str) -> str:
    whens = " ".join(f"WHEN {variable} < {p:.6f} THEN {v}" for v, p in cdf[:-1])
    return f"CASE {whens} ELSE {cdf[-1][0]} END"


def _mix_case(mix, variable: str) -> str:
    total, running, whens = sum(share for _, share in mix), 0.0, []
    for status, share in mix[:-1]:
        running += share / total
        whens.append(f"WHEN {variable} < {running:.6f} THEN {status}")
    return f"CASE {' '.join(whens)} ELSE {mix[-1][0]} END"


def _codes(path: Path, column: str) -> list[str]:
    codes, seen = [], set()
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        for row in csv.DictReader(f):
            code = (row.get(column) or "").strip().strip("\"'")
            if _ID.fullmatch(code) and code not in seen:
                seen.add(code)
                codes.append(code)
    return codes


def _coprime_step(n: int) -> int:
    step = max(1, int(n * 0.618))
    while math.gcd(step, n) != 1:
        step += 1
    return step


# --- catalogue ---------------------------------------------------------------------------------

def dataset_tables() -> list[str]:
    """The tables a dataset fills, and every project table referring to them (items, log
    rows, transfers, location assignments, API token scopes …), quoted, in a stable order:
    what ``reset_tables`` empties. Found from the models, so a new model is included."""
    from django.apps import apps

    from locations.models import Sku, StockLevel, StockLocation
    from oms.events.models import OutboxEvent
    from packages.models import Brand, Package

    owned = {Package, StockLevel, StockLocation, Sku, Brand, OutboxEvent}
    models = apps.get_models(include_auto_created=True)
    grown = True
    while grown:
        grown = False
        for model in models:
            if model in owned:
                continue
            if any(f.is_relation and f.concrete and f.related_model in owned for f in model._meta.fields):
                owned.add(model)
                grown = True
    return sorted(table(m) for m in owned)


def reset_tables() -> None:
    """Empty the dataset's tables (``dataset_tables``) of a benchmark's own database.

    Each table is named: no ``CASCADE``, so a table outside that list referring to one of
    them makes the statement fail rather than be emptied. Raises ``UnmarkedDatabase`` on a
    database without the benchmark marker (nothing is touched)."""
    require_marked()
    execute(f"TRUNCATE {', '.join(dataset_tables())} RESTART IDENTITY", [])


def create_catalogue(*, locations: int = LOCATIONS, olist_dir: Path | None = None) -> dict:
    """Insert ``locations`` stock locations, the Olist SKUs and the ``bench`` brand."""
    from locations.models import Sku, StockLocation
    from packages.models import Brand

    olist_dir = olist_dir or olist_files()
    codes = _codes(olist_dir / "sellers.csv", "seller_id")[:locations]
    codes += [f"bench-loc-{i:05d}" for i in range(len(codes), locations)]
    skus = _codes(olist_dir / "products.csv", "product_id") or [f"bench-sku-{i:05d}" for i in range(3000)]
    insert_select(StockLocation, {
        "code": "c", "name": "'Bench ' || left(c, 8)", "city": "'São Paulo'", "region": "'SP'",
        "kind": "'warehouse'", "is_active": "true", "can_package": "true",
    }, "FROM unnest(%s::text[]) AS c", [codes])
    insert_select(Sku, {"code": "c", "name": "'Product ' || left(c, 8)", "category": "'bench'"},
                  "FROM unnest(%s::text[]) AS c", [skus])
    Brand.objects.update_or_create(slug=BASE_BRAND, defaults={
        "name": "Bench", "requires_shipping_label": True, "requires_invoice": True})
    return {"locations": len(codes), "skus": len(skus)}


# --- packages ----------------------------------------------------------------------------------

def generate(spec: DatasetSpec, *, olist_dir: Path | None = None, verbose: bool = True) -> dict:
    """Replace the database's data by the dataset ``spec``; return counts and seconds."""
    from locations.models import Sku, StockLevel, StockLocation
    from packages.models import Brand, Package, PackageItem, PackageTransition

    started = time.perf_counter()
    olist_dir = olist_dir or olist_files()
    lines_cdf, units_cdf = olist_distributions(olist_dir)
    n, n_open = spec.packages, spec.open_count

    def step(label: str, t0: float) -> float:
        if verbose:
            print(f"  {label}: {time.perf_counter() - t0:.1f} s", flush=True)
        return time.perf_counter()

    with transaction.atomic():
        t = time.perf_counter()
        reset_tables()
        catalogue = create_catalogue(locations=spec.locations, olist_dir=olist_dir)
        brand_id = Brand.objects.get(slug=BASE_BRAND).pk
        nskus = catalogue["skus"]
        execute("SELECT setseed(%s)", [spec.seed])
        execute(f"""
            CREATE TEMP TABLE bench_sku ON COMMIT DROP AS
            SELECT (row_number() OVER (ORDER BY id) - 1)::int AS ord, id AS sku_id FROM {table(Sku)};
            CREATE TEMP TABLE bench_loc ON COMMIT DROP AS
            SELECT id AS location_id, row_number() OVER (ORDER BY md5(code)) AS rank
            FROM {table(StockLocation)};
            CREATE TEMP TABLE bench_loc_slot ON COMMIT DROP AS
            WITH w AS (SELECT location_id, power(rank, -%(zipf)s) AS w FROM bench_loc),
                 c AS (SELECT location_id, greatest(1, round(%(slots)s * w / sum(w) OVER ()))::int AS n
                       FROM w),
                 o AS (SELECT location_id, n, (sum(n) OVER (ORDER BY location_id) - n)::int AS start FROM c)
            SELECT start + k AS slot, location_id FROM o CROSS JOIN LATERAL generate_series(0, n - 1) AS k;
            CREATE UNIQUE INDEX ON bench_loc_slot (slot);
            CREATE TEMP TABLE bench_cat_size ON COMMIT DROP AS
            SELECT l.location_id, l.rank,
                   least(%(nskus)s, 5 + ceil(%(n)s::numeric * count(*) / %(slots)s / 40))::int AS size
            FROM bench_loc l JOIN bench_loc_slot s USING (location_id) GROUP BY l.location_id, l.rank;
            CREATE TEMP TABLE bench_cat ON COMMIT DROP AS
            SELECT c.location_id, j AS slot, s.sku_id
            FROM bench_cat_size c CROSS JOIN LATERAL generate_series(0, c.size - 1) AS j
            JOIN bench_sku s ON s.ord = (c.rank * 7919 + j * %(step)s) %% %(nskus)s;
            CREATE UNIQUE INDEX ON bench_cat (location_id, slot);
        """, {"zipf": ZIPF_EXPONENT, "slots": SLOTS, "nskus": nskus, "n": n, "step": _coprime_step(nskus)})
        slots = fetchone("SELECT count(*) FROM bench_loc_slot")[0]
        t = step("catalogue", t)

        first = (fetchone(f"SELECT coalesce(max(id), 0) FROM {table(Package)}")[0] or 0) + 1
        open_case, history_case = _mix_case(OPEN_MIX, "u_state"), _mix_case(HISTORY_MIX, "u_state")
        execute(f"""
            CREATE TEMP TABLE bench_pkg ON COMMIT DROP AS
            SELECT id, location_id, status,
                   CASE WHEN status = 600 THEN 'click_and_collect'
                        WHEN status IN {SHIP_ONLY} THEN 'ship'
                        WHEN u_type < %(cc)s THEN 'click_and_collect' ELSE 'ship' END AS delivery_type,
                   created_at,
                   CASE WHEN is_open THEN created_at + u_changed * (now() - created_at)
                        ELSE created_at + u_changed * interval '8 days' END AS changed_at
            FROM (
                SELECT r.*, s.location_id,
                       CASE WHEN is_open THEN {open_case} ELSE {history_case} END AS status,
                       CASE WHEN is_open THEN now() - u_age * interval '10 days'
                            ELSE now() - interval '10 days' - u_age * interval '720 days' END AS created_at
                FROM (
                    SELECT g AS id, floor(random() * %(slots)s)::int AS slot, random() AS u_state,
                           random() AS u_age, random() AS u_changed, random() AS u_type,
                           floor((g - %(first)s + 1)::numeric * %(open)s / %(n)s)
                             > floor((g - %(first)s)::numeric * %(open)s / %(n)s) AS is_open
                    FROM generate_series(%(first)s, %(last)s) AS g
                ) r JOIN bench_loc_slot s ON s.slot = r.slot
            ) x;
            ALTER TABLE bench_pkg ADD PRIMARY KEY (id);
        """, {"slots": slots, "first": first, "last": first + n - 1, "open": n_open, "n": n,
              "cc": CLICK_AND_COLLECT_SHARE})
        carrier_states = "(550, 560, 700, 710, 720)"
        shipped = "(status IN (700, 710, 720) OR (status = 800 AND delivery_type = 'ship'))"
        insert_select(Package, {
            "id": "id", "number": "'BP' || lpad(id::text, 9, '0')",
            "order_number": "'BO' || lpad(id::text, 9, '0')", "brand_id": ("%s", [brand_id]),
            "location_id": "location_id", "delivery_type": "delivery_type", "status": "status",
            "status_changed_at": "changed_at", "version": "CASE WHEN status IN (100, 920) THEN 1 ELSE 2 END",
            "ship_by": "created_at + interval '3 days'",
            "carrier": f"CASE WHEN status IN {carrier_states} OR {shipped} THEN 'correios' ELSE '' END",
            "tracking_number": f"CASE WHEN status IN {carrier_states} OR {shipped} "
                               "THEN 'BR' || id::text ELSE '' END",
            "label_printed_at": f"CASE WHEN status = 560 OR {shipped} THEN created_at + interval '1 day' END",
            "invoice_number": f"CASE WHEN {shipped} THEN 'NF' || id::text ELSE '' END",
            "invoice_date": f"CASE WHEN {shipped} THEN (created_at + interval '1 day')::date END",
            "shipped_at": f"CASE WHEN {shipped} THEN created_at + interval '2 days' END",
            "delivered_at": "CASE WHEN status = 800 THEN changed_at END",
            "delivery_attempts": "CASE WHEN status = 720 THEN 1 ELSE 0 END",
            "cancellation_reason": "CASE status WHEN 900 THEN 'customer_request' WHEN 910 THEN "
                                   "'defective_product' WHEN 850 THEN 'customer_request' ELSE '' END",
            "placed_at": "created_at", "created_at": "created_at", "updated_at": "changed_at",
            "stock_checked_at": "CASE WHEN status = 920 THEN changed_at END",
            "next_stock_check_at": "CASE WHEN status = 920 THEN changed_at + interval '30 minutes' END",
        }, "FROM bench_pkg ORDER BY id")
        reset_sequence(Package)
        t = step(f"{n:,} packages", t)

        execute(f"""
            CREATE TEMP TABLE bench_item ON COMMIT DROP AS
            WITH p AS MATERIALIZED (
                SELECT b.id, b.location_id, b.status, c.size, floor(b.u_base * c.size)::int AS base,
                       {_case(lines_cdf, "b.u_lines")} AS lines
                FROM (SELECT id, location_id, status, random() AS u_base, random() AS u_lines
                      FROM bench_pkg) b
                JOIN bench_cat_size c USING (location_id)
            )
            SELECT package_id, location_id, status, sku_id, {_case(units_cdf, "u_units")} AS quantity
            FROM (
                SELECT p.id AS package_id, p.location_id, p.status, cat.sku_id, random() AS u_units
                FROM p CROSS JOIN LATERAL generate_series(0, least(p.lines, p.size) - 1) AS j
                JOIN bench_cat cat ON cat.location_id = p.location_id AND cat.slot = (p.base + j) %% p.size
            ) x;
        """, [])
        items = insert_select(PackageItem, {
            "package_id": "package_id", "sku_id": "sku_id", "quantity": "quantity",
            "unit_price": "round((9.9 + random() * 490)::numeric, 2)",
            "freight_value": "round((5 + random() * 40)::numeric, 2)",
        }, "FROM bench_item ORDER BY package_id, sku_id")
        t = step(f"{items:,} items", t)

        last = ", ".join(f"({s}, NULL, {f}, '{a}')" for s, (f, a) in LAST_ACTION.items())
        last += ", " + ", ".join(f"({s}, 'click_and_collect', {f}, '{a}')"
                                 for s, (f, a) in LAST_ACTION_CC.items())
        log_values = {"package_id": "id", "actor": "'system:bench'", "reason": "''", "payload": "'{}'::jsonb"}
        transitions = insert_select(PackageTransition, {
            **log_values, "from_status": "NULL", "to_status": "CASE WHEN status = 920 THEN 920 ELSE 100 END",
            "action": "'create'", "created_at": "created_at"}, "FROM bench_pkg ORDER BY id")
        transitions += insert_select(PackageTransition, {
            **log_values, "from_status": "a.from_status", "to_status": "p.status", "action": "a.action",
            "created_at": "p.changed_at",
        }, f"""FROM bench_pkg p JOIN LATERAL (
                 SELECT from_status, action FROM (VALUES {last}) AS v(status, dt, from_status, action)
                 WHERE v.status = p.status AND (v.dt IS NULL OR v.dt = p.delivery_type)
                 ORDER BY v.dt NULLS LAST LIMIT 1) a ON true
               ORDER BY p.id""")
        t = step(f"{transitions:,} log rows", t)

        levels = insert_select(StockLevel, {
            "location_id": "c.location_id", "sku_id": "c.sku_id",
            "on_hand": "coalesce(d.reserved, 0) + CASE WHEN coalesce(d.dry, false) THEN 0 "
                       "ELSE floor(random() * 20)::int END",
            "reserved": "coalesce(d.reserved, 0)", "damaged": "0",
        }, f"""FROM bench_cat c LEFT JOIN (
                 SELECT location_id, sku_id,
                        coalesce(sum(quantity) FILTER (WHERE status IN {RESERVING}), 0) AS reserved,
                        bool_or(status = 920) AS dry
                 FROM bench_item GROUP BY location_id, sku_id) d USING (location_id, sku_id)
               ORDER BY c.location_id, c.sku_id""")
        execute(f"""
            UPDATE {table(Package)} p SET stock_shortage = left(s.text, 500)
            FROM (SELECT i.package_id, 'short: ' || string_agg(
                         format('SKU %%s needs %%s, has 0', k.code, i.quantity), '; ' ORDER BY k.code) AS text
                  FROM bench_item i JOIN {table(Sku)} k ON k.id = i.sku_id
                  WHERE i.status = 920 GROUP BY i.package_id) s
            WHERE p.id = s.package_id
        """, [])
        t = step(f"{levels:,} stock rows", t)
        stats = {**catalogue, "packages": n, "open_packages": n_open, "items": items,
                 "transitions": transitions, "stock_levels": levels, "first_id": first,
                 "seconds": round(time.perf_counter() - started, 1)}
        _record("base", spec, stats)
    # VACUUM as autovacuum would soon after: sets the visibility map, so index-only scans
    # behave as in a database that has been running for a while.
    for model in (Package, PackageItem, PackageTransition, StockLevel, StockLocation, Sku):
        execute(f"VACUUM ANALYZE {table(model)}", [])
    step("commit + vacuum analyze", t)
    stats["seconds"] = round(time.perf_counter() - started, 1)
    return stats


def _record(name: str, spec: DatasetSpec, stats: dict) -> None:
    execute("""CREATE TABLE IF NOT EXISTS bench_dataset (
                   name text PRIMARY KEY, spec jsonb NOT NULL, stats jsonb NOT NULL,
                   created_at timestamptz NOT NULL DEFAULT now())""", [])
    execute("""INSERT INTO bench_dataset (name, spec, stats) VALUES (%s, %s, %s)
               ON CONFLICT (name) DO UPDATE SET spec = EXCLUDED.spec, stats = EXCLUDED.stats,
                                               created_at = now()""",
            [name, json.dumps(asdict(spec)), json.dumps(stats)])


def recorded(name: str = "base") -> tuple[dict, dict] | None:
    """Return ``(spec, stats)`` of the dataset last generated here, or None."""
    if fetchone("SELECT to_regclass('bench_dataset')")[0] is None:
        return None
    row = fetchone("SELECT spec::text, stats::text FROM bench_dataset WHERE name = %s", [name])
    return (json.loads(row[0]), json.loads(row[1])) if row else None


def ensure_dataset(spec: DatasetSpec, *, olist_dir: Path | None = None, verbose: bool = True) -> dict:
    """Generate ``spec`` unless this database already holds exactly it; return its stats."""
    from packages.models import Brand, Package

    found = recorded()
    if found and found[0] == asdict(spec):
        brand = Brand.objects.filter(slug=BASE_BRAND).first()
        if brand and Package.objects.filter(brand=brand).count() == spec.packages:
            return found[1]
    if verbose:
        print(f"generating {spec.packages:,} packages ({spec.open_count:,} open) …", flush=True)
    return generate(spec, olist_dir=olist_dir, verbose=verbose)


def main(argv=None) -> None:
    parser = base_parser("Generate a benchmark dataset (set-based, inside PostgreSQL).", db="oms_bench")
    parser.add_argument("--packages", type=int, default=100_000)
    parser.add_argument("--open", type=int, default=None,
                        help=f"open packages (default {OPEN_SHARE:.0%} of --packages)")
    parser.add_argument("--locations", type=int, default=LOCATIONS)
    args = parser.parse_args(argv)
    bootstrap(args.db)
    require_postgresql()
    spec = DatasetSpec(packages=args.packages, open_packages=args.open, locations=args.locations)
    stats = generate(spec)
    print(json.dumps(stats, indent=2))


if __name__ == "__main__":
    main()
