"""The open-package counter of each stock location (``StockLocation.open_packages``), kept by
the database.

A package counts against its location's capacity while it is open (``CAPACITY_STATES``).
Every write of the package table adjusts the counters in the same transaction, whoever
writes: package creation (single and bulk), the action engine's set-based write, imports,
test factories. So the counter always equals a direct count, and no write path can forget it.

* PostgreSQL: three statement-level ``AFTER`` triggers (insert, update, delete) read the
  statement's transition tables, sum +1 per row that is open after and -1 per row that was
  open before, per location, lock the changed locations' rows in primary-key order and
  update them once (one statement per write, whatever the number of rows).
* SQLite (development, tests): row-level triggers doing the same per row. Django rebuilds an
  SQLite table for some schema changes, which drops its triggers: ``ensure_triggers`` runs
  after every ``migrate`` (``PackagesConfig.ready``) and puts them back.

Planners take a slot with ``locations.services.location_slot_take`` (the location row locked
after the stock rows) before making a package open.
"""

from __future__ import annotations

from django.db import connection as default_connection

from packages.models import CAPACITY_STATES

PACKAGE_TABLE = "packages_package"
LOCATION_TABLE = "locations_stocklocation"
_STATES = ", ".join(str(int(code)) for code in sorted(CAPACITY_STATES))

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH moved AS ({moved}),
    delta AS (
        SELECT location_id, sum(n) AS n FROM moved GROUP BY location_id HAVING sum(n) <> 0
    ),
    locked AS (
        SELECT l.id FROM {location} l WHERE l.id IN (SELECT location_id FROM delta)
        ORDER BY l.id FOR UPDATE
    )
    UPDATE {location} l SET open_packages = l.open_packages + delta.n
    FROM delta JOIN locked ON locked.id = delta.location_id
    WHERE l.id = delta.location_id;
    RETURN NULL;
END
$$;
"""
_NEW = f"SELECT location_id, 1 AS n FROM new_rows WHERE status IN ({_STATES})"
_OLD = f"SELECT location_id, -1 AS n FROM old_rows WHERE status IN ({_STATES})"
_PG_TRIGGERS = {
    # name: (event, transition tables, rows moved)
    "packages_open_count_insert": ("INSERT", "NEW TABLE AS new_rows", _NEW),
    "packages_open_count_update": ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                                   f"{_NEW} UNION ALL {_OLD}"),
    "packages_open_count_delete": ("DELETE", "OLD TABLE AS old_rows", _OLD),
}

_SQLITE_TRIGGERS = {
    "packages_open_count_insert": f"""
        CREATE TRIGGER packages_open_count_insert AFTER INSERT ON {PACKAGE_TABLE}
        FOR EACH ROW WHEN NEW.status IN ({_STATES}) BEGIN
            UPDATE {LOCATION_TABLE} SET open_packages = open_packages + 1 WHERE id = NEW.location_id;
        END""",
    "packages_open_count_update": f"""
        CREATE TRIGGER packages_open_count_update AFTER UPDATE OF status, location_id ON {PACKAGE_TABLE}
        FOR EACH ROW BEGIN
            UPDATE {LOCATION_TABLE} SET open_packages = open_packages - 1
            WHERE id = OLD.location_id AND OLD.status IN ({_STATES});
            UPDATE {LOCATION_TABLE} SET open_packages = open_packages + 1
            WHERE id = NEW.location_id AND NEW.status IN ({_STATES});
        END""",
    "packages_open_count_delete": f"""
        CREATE TRIGGER packages_open_count_delete AFTER DELETE ON {PACKAGE_TABLE}
        FOR EACH ROW WHEN OLD.status IN ({_STATES}) BEGIN
            UPDATE {LOCATION_TABLE} SET open_packages = open_packages - 1 WHERE id = OLD.location_id;
        END""",
}

RECOUNT_SQL = f"""
    UPDATE {LOCATION_TABLE} SET open_packages = (
        SELECT count(*) FROM {PACKAGE_TABLE} p
        WHERE p.location_id = {LOCATION_TABLE}.id AND p.status IN ({_STATES})
    )
"""


def create_triggers(connection=default_connection) -> None:
    """(Re)create the counter triggers on ``connection`` (PostgreSQL or SQLite)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for name, (event, tables, moved) in _PG_TRIGGERS.items():
                cursor.execute(_PG_FUNCTION.format(name=name, moved=moved, location=LOCATION_TABLE))
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {PACKAGE_TABLE}")
                cursor.execute(f"CREATE TRIGGER {name} AFTER {event} ON {PACKAGE_TABLE} "
                               f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION {name}()")
        elif connection.vendor == "sqlite":
            for name, sql in _SQLITE_TRIGGERS.items():
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
                cursor.execute(sql)
        else:
            raise NotImplementedError(f"no open-package counter for {connection.vendor}")


def drop_triggers(connection=default_connection) -> None:
    """Remove the counter triggers (and PostgreSQL functions)."""
    with connection.cursor() as cursor:
        for name in _PG_TRIGGERS:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {PACKAGE_TABLE}")
                cursor.execute(f"DROP FUNCTION IF EXISTS {name}()")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def recount(connection=default_connection) -> None:
    """Set every location's counter to a direct count of its open packages. On PostgreSQL
    the caller must keep package writers out meanwhile (the migration locks the table)."""
    with connection.cursor() as cursor:
        cursor.execute(RECOUNT_SQL)


def ensure_triggers(connection=default_connection) -> None:
    """On SQLite, put the triggers back if a table rebuild dropped them, and recount (SQLite
    runs one writer at a time, so the recount is exact). PostgreSQL keeps its triggers
    through schema changes: nothing to do."""
    if connection.vendor != "sqlite":
        return
    tables = set(connection.introspection.table_names())
    if not {PACKAGE_TABLE, LOCATION_TABLE} <= tables:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
                       [PACKAGE_TABLE])
        present = {name for (name,) in cursor.fetchall()}
    if present >= set(_SQLITE_TRIGGERS):
        return
    columns = {c.name for c in connection.introspection.get_table_description(
        connection.cursor(), LOCATION_TABLE)}
    if "open_packages" not in columns:
        return  # migrated backwards below the counter
    create_triggers(connection)
    recount(connection)
