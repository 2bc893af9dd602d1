"""Plain SQL for one row at a time, built once per process from model metadata.

The single-action fast path (``packages.services.package_transition``) reads and writes a
handful of rows per request; building each statement through the ORM (a ``QuerySet``, its
compiler, a model instance per row) costs more Python time than PostgreSQL takes to run it
(docs/benchmarks.md, P1). The helpers here build the SQL text from ``Model._meta`` (table and
column names, quoted by the connection) once, and turn rows into instances with
``Model.from_db`` after the same database converters the ORM applies, so the instances are
the ones a ``QuerySet`` would have returned.

Portable: the SQL is plain ``SELECT`` / ``UPDATE`` / ``INSERT`` with ``%s`` parameters, run on
``django.db.connection``; the caller adds ``FOR UPDATE`` where the backend has it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import hashlib
import uuid
import weakref
from collections.abc import Sequence
from typing import NamedTuple

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, models

# How a column travels inside ``json_build_array`` (PostgreSQL) and how its JSON value is
# turned back into what psycopg2 returns for the column itself: ``(SQL cast, parser)`` by
# ``Field.get_internal_type()``. Numbers and JSON travel as text (a JSON number would lose
# ``numeric``'s exactness; Django reads ``jsonb`` from its text), times as ISO 8601
# (``to_json`` writes them so whatever the session's DateStyle).
_JSON_INT = ("", int)
_JSON_TEXT = ("", str)
_JSON_READING = {
    **dict.fromkeys(("AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField",
                     "SmallIntegerField", "PositiveIntegerField", "PositiveBigIntegerField",
                     "PositiveSmallIntegerField"), _JSON_INT),
    **dict.fromkeys(("CharField", "TextField", "SlugField", "EmailField", "URLField"), _JSON_TEXT),
    "BooleanField": ("", bool),
    "DecimalField": ("::text", decimal.Decimal),
    "JSONField": ("::text", str),
    "UUIDField": ("::text", uuid.UUID),
    "DateTimeField": ("", dt.datetime.fromisoformat),
    "DateField": ("", dt.date.fromisoformat),
}


def quote(name: str) -> str:
    """The name quoted for the default database (``"packages_package"`` on PostgreSQL)."""
    return connection.ops.quote_name(name)


class Columns:
    """Every concrete column of ``model``, qualified by its table name.

    ``sql`` is the select list (``"packages_package"."id", …``), in ``_meta.concrete_fields`` order;
    ``build(row, start)`` makes the instance from ``row[start:start + len(self)]``.
    """

    def __init__(self, model: type[models.Model]):
        self.model = model
        self.fields = list(model._meta.concrete_fields)
        self.attnames = [field.attname for field in self.fields]
        self._converters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __len__(self) -> int:
        return len(self.fields)

    @functools.cached_property
    def sql(self) -> str:
        return ", ".join(f"{self.table}.{quote(field.column)}" for field in self.fields)

    @functools.cached_property
    def table(self) -> str:
        return quote(self.model._meta.db_table)

    def _converters_for(self, conn) -> list[tuple[int, list, models.expressions.Col]]:
        """``[(position, [converter, …], column expression)]`` as the ORM's compiler applies
        them on ``conn`` (backend converters first, then the field's), for fields that have any.
        Kept per connection wrapper (one per thread)."""
        found = self._converters.get(conn)
        if found is None:
            found = []
            for position, field in enumerate(self.fields):
                col = field.get_col(self.model._meta.db_table)
                converters = conn.ops.get_db_converters(col) + col.get_db_converters(conn)
                if converters:
                    found.append((position, converters, col))
            self._converters[conn] = found
        return found

    def _json_reading(self, field: models.Field) -> tuple[str, object]:
        name = field.name
        while field.is_relation:  # a foreign key is stored as the key it points to
            field = field.target_field
        kind = field.get_internal_type()
        try:
            return _JSON_READING[kind]
        except KeyError:
            raise TypeError(f"{self.model.__name__}.{name}: no JSON reading for {kind}") from None

    def json_sql(self, table: str | None = None) -> str:
        """``json_build_array(<every column>)`` (PostgreSQL): one row as one JSON array, for
        ``json_agg`` in a subquery; ``table`` qualifies the columns (default: the model's
        table). Read it back with ``build_json``. Raises TypeError for a column type this
        module cannot read back from JSON."""
        return f"json_build_array({self.json_columns(table)})"

    def json_columns(self, table: str | None = None) -> str:
        """The arguments of ``json_sql``'s ``json_build_array`` (to join two models' columns
        in one array)."""
        table = table or self.table
        return ", ".join(f"{table}.{quote(field.column)}{self._json_reading(field)[0]}"
                         for field in self.fields)

    def build_json(self, values: Sequence) -> models.Model:
        """The saved instance from one ``json_sql`` array (as psycopg2 parsed it): each value
        turned back into what the driver returns for the column, then ``build``."""
        row = [None if value is None else self._json_reading(field)[1](value)
               for field, value in zip(self.fields, values, strict=True)]
        return self.build(row)

    def build(self, row: Sequence, start: int = 0) -> models.Model:
        """The saved instance of ``model`` read from ``row`` at ``start`` (``Model.from_db``)."""
        conn = connections[DEFAULT_DB_ALIAS]  # this thread's wrapper (``connection`` is a proxy)
        values = list(row[start:start + len(self.fields)])
        for position, converters, col in self._converters_for(conn):
            value = values[position]
            for converter in converters:
                value = converter(value, col, conn)
            values[position] = value
        return self.model.from_db(conn.alias, self.attnames, values)


@functools.cache
def update_sql(model: type[models.Model], fields: tuple[str, ...]) -> str:
    """``UPDATE <table> SET <f> = %s, … WHERE <pk> = %s`` for ``fields`` (attribute names)."""
    meta = model._meta
    assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in fields)
    return f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"


@functools.cache
def insert_sql(model: type[models.Model], fields: tuple[str, ...]) -> str:
    """``INSERT INTO <table> (<columns>) VALUES (%s, …)`` for ``fields`` (attribute names)."""
    meta = model._meta
    columns = ", ".join(quote(meta.get_field(name).column) for name in fields)
    marks = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks})"


def _wrapper():
    """This thread's connection wrapper (``django.db.connection`` is a proxy that looks it up
    on every attribute access)."""
    return connections[DEFAULT_DB_ALIAS]


@functools.cache
def _fields(model: type[models.Model], names: tuple[str, ...]) -> tuple[tuple[models.Field, str], ...]:
    meta = model._meta
    return tuple((meta.get_field(name), meta.get_field(name).attname) for name in names)


# SQLSTATEs after which a prepared statement is made again: "cached plan must not change
# result type" (0A000: a migration changed a column the statement returns) and "prepared
# statement does not exist" (26000: DEALLOCATE ALL / DISCARD ALL on the connection).
_PREPARE_AGAIN = frozenset({"0A000", "26000"})


def prepared_statements_on() -> bool:
    """True when ``execute`` runs statements as server-side prepared statements: PostgreSQL,
    ``settings.DATABASE_PREPARED_STATEMENTS`` on and persistent connections
    (``CONN_MAX_AGE`` not 0; a statement prepared on a connection closed after the request
    would cost one more round trip per request, not one per connection)."""
    conn = _wrapper()
    return (conn.vendor == "postgresql" and settings.DATABASE_PREPARED_STATEMENTS
            and conn.settings_dict.get("CONN_MAX_AGE") != 0)


def execute(cursor, sql: str, params: Sequence) -> None:
    """``cursor.execute(sql, params)``; where ``prepared_statements_on()``, as a prepared
    statement: ``PREPARE`` once per connection (the first time this process runs ``sql`` on
    it), then ``EXECUTE <name>(params)``. PostgreSQL then neither parses nor, after five
    runs, plans the statement again (planning the action's joined lock costs more than
    running it; docs/benchmarks.md, P1).

    ``sql`` uses ``%s`` placeholders only (no ``%%``); parameter types are inferred by
    PostgreSQL from where each placeholder stands. A prepared statement outlives a rolled
    back transaction; it lives as long as its connection. When the server no longer has it
    or refuses its plan (a migration changed a column it returns), it is prepared again
    under a new name and run once more; inside a transaction, which that error has aborted,
    the error is raised and the next use prepares it again. Not for connections shared
    through a transaction-pooling proxy such as pgbouncer (``DATABASE_PREPARED_STATEMENTS=false``).
    Raises ValueError for ``%%`` in ``sql``; the database's errors as ``execute`` does.
    """
    if not prepared_statements_on():
        cursor.execute(sql, params)
        return
    if "%%" in sql:
        raise ValueError("prepared statements take %s placeholders only")
    wrapper = _wrapper()
    raw = wrapper.connection
    prepared = getattr(wrapper, "_oms_prepared", None)
    if prepared is None or prepared.connection is not raw:
        prepared = wrapper._oms_prepared = _Prepared(raw)
    name = prepared.names.get(sql)
    try:
        if name is None:
            name = _prepare(cursor, sql, prepared)
        _execute_prepared(cursor, name, params)
    except DatabaseError as exc:
        if getattr(exc.__cause__, "pgcode", None) not in _PREPARE_AGAIN:
            raise
        prepared.names.pop(sql, None)  # prepared again, under a new name, on the next use
        if wrapper.in_atomic_block or not wrapper.get_autocommit():
            raise  # the transaction is aborted: the caller's next transaction will work
        _execute_prepared(cursor, _prepare(cursor, sql, prepared), params)


class _Prepared:
    """The statements prepared on one database connection: ``names`` ``{sql: name}``,
    ``generations`` ``{sql: times prepared}``."""

    def __init__(self, connection):
        self.connection = connection
        self.names: dict[str, str] = {}
        self.generations: dict[str, int] = {}


def _prepare(cursor, sql: str, prepared: _Prepared) -> str:
    """``PREPARE`` ``sql`` on ``cursor``'s connection; return its name: a digest of the SQL
    (the same statement has the same name in every process) and how many times this
    connection prepared it (a statement the server refused is prepared under a new name)."""
    digest = hashlib.sha1(sql.encode(), usedforsecurity=False).hexdigest()[:16]
    generation = prepared.generations.get(sql, 0) + 1
    name = f"oms_{digest}_{generation}"
    parts = sql.split("%s")
    numbered = "".join(f"{part}${index}" for index, part in enumerate(parts[:-1], 1)) + parts[-1]
    cursor.execute(f"PREPARE {name} AS {numbered}")
    prepared.names[sql], prepared.generations[sql] = name, generation
    return name


def _execute_prepared(cursor, name: str, params: Sequence) -> None:
    marks = ", ".join(["%s"] * len(params))
    cursor.execute(f"EXECUTE {name}({marks})" if params else f"EXECUTE {name}", params)


class Statement(NamedTuple):
    """One data-modifying statement for ``execute_statements``: ``sql`` with ``%s``
    ``params``; ``returning``: the column names its ``RETURNING`` clause gives (empty: none);
    ``guarded_sql``: for an ``INSERT``, the same row inserted only if the guard of
    ``execute_guarded`` (its first statement, ``w0``) changed its row."""

    sql: str
    params: list
    returning: tuple[str, ...] = ()
    guarded_sql: str = ""


def update_statement(obj: models.Model, fields: Sequence[str], *,
                     expect: dict | None = None) -> Statement:
    """``UPDATE`` of ``fields`` of the saved ``obj`` by primary key, not yet run; values
    prepared as ``save()`` prepares them (``get_db_prep_save``); nothing else runs (no
    ``pre_save``: set ``auto_now`` fields yourself; no signals). ``expect`` (``{field:
    value}``) adds ``AND <column> = <value>`` for each and ``RETURNING`` the key: the guard
    of ``execute_guarded`` (e.g. ``{"version": 3}``)."""
    conn, model, fields = _wrapper(), type(obj), tuple(fields)
    params = [field.get_db_prep_save(getattr(obj, attname), conn)
              for field, attname in _fields(model, fields)]
    params.append(model._meta.pk.get_db_prep_save(obj.pk, conn))
    if not expect:
        return Statement(update_sql(model, fields), params)
    expected = tuple(expect)
    params += [field.get_db_prep_save(value, conn)
               for (field, _), value in zip(_fields(model, expected), expect.values(), strict=True)]
    meta = model._meta
    conditions = "".join(f" AND {quote(meta.get_field(name).column)} = %s" for name in expected)
    return Statement(f"{update_sql(model, fields)}{conditions} RETURNING {quote(meta.pk.column)}",
                     params, (meta.pk.attname,))


def insert_statement(model: type[models.Model], values: dict, *, returning_pk: bool = False) -> Statement:
    """``INSERT`` of one row of ``model`` from ``{field name: value}``, not yet run; values
    prepared as ``save()`` prepares them; columns not named take their *database* default
    (name every column that has only a Python default). ``returning_pk`` asks for the new
    row's primary key (``execute_statements`` gives it back)."""
    conn, fields = _wrapper(), tuple(values)
    params = [field.get_db_prep_save(value, conn)
              for (field, _), value in zip(_fields(model, fields), values.values(), strict=True)]
    sql, guarded = insert_sql(model, fields), _guarded_insert_sql(model, fields)
    if not returning_pk:
        return Statement(sql, params, (), guarded)
    returning = f" RETURNING {quote(model._meta.pk.column)}"
    return Statement(sql + returning, params, (model._meta.pk.attname,), guarded + returning)


@functools.cache
def _guarded_insert_sql(model: type[models.Model], fields: tuple[str, ...]) -> str:
    """``INSERT INTO <table> (<columns>) SELECT %s::<type>, … FROM w0``: one row if the guard
    (``execute_guarded``'s first statement) gave one. Typed: PostgreSQL cannot infer a
    parameter's type in a select list."""
    conn, meta = _wrapper(), model._meta
    columns = ", ".join(quote(meta.get_field(name).column) for name in fields)
    values = ", ".join(f"%s::{meta.get_field(name).db_type(conn)}" for name in fields)
    return f"INSERT INTO {quote(meta.db_table)} ({columns}) SELECT {values} FROM w0"


@functools.cache
def _together_sql(statements: tuple[tuple[str, int], ...]) -> str:
    """``WITH w0 AS (<first>), w1 AS (<second>), … SELECT * FROM <those that return rows>``
    for ``((sql, number of RETURNING columns), …)``."""
    parts = [f"w{index} AS ({sql})" for index, (sql, _) in enumerate(statements)]
    returning = [f"w{index}" for index, (_, count) in enumerate(statements) if count]
    if not returning:  # every statement still runs (data-modifying WITH always does)
        return f"WITH {', '.join(parts)} SELECT 1"
    return f"WITH {', '.join(parts)} SELECT * FROM {', '.join(returning)}"


def execute_statements(statements: Sequence[Statement]) -> list[tuple | None]:
    """Run ``statements`` (``INSERT`` / ``UPDATE`` / ``DELETE``, in this order) in the caller's
    transaction; return, for each, its ``RETURNING`` row (a tuple), or None when it returns
    nothing.

    On PostgreSQL in one round trip: one statement with each as a data-modifying ``WITH``
    item. They then share one snapshot and do not see each other's rows, so give them
    different tables (or rows) to change; each ``RETURNING`` must give exactly one row (the
    answer is their cross product). Elsewhere one by one, and ``RETURNING`` may only ask for
    the primary key of a one-row ``INSERT`` (read from ``cursor.lastrowid``).
    Raises the database's ``DatabaseError`` subclasses; ValueError when a ``RETURNING``
    statement gives no row (PostgreSQL) or asks for more than the key (elsewhere).
    """
    conn = _wrapper()
    if conn.vendor == "postgresql":
        row = _run_together(conn, [(s.sql, s) for s in statements])
        if any(s.returning for s in statements) and row is None:
            raise ValueError("a RETURNING statement gave no row")
        return _returned(statements, row)
    found = []
    with conn.cursor() as cursor:
        for s in statements:
            if not s.returning:
                cursor.execute(s.sql, s.params)
                found.append(None)
                continue
            if len(s.returning) != 1 or " RETURNING " not in s.sql:
                raise ValueError(f"only the primary key of an INSERT can be returned here: {s.returning}")
            cursor.execute(s.sql.rsplit(" RETURNING ", 1)[0], s.params)
            found.append((cursor.lastrowid,))
    return found


def _run_together(conn, statements: list[tuple[str, Statement]]) -> tuple | None:
    """Run ``[(sql to use, statement), …]`` as one ``WITH`` statement; return its row."""
    sql = _together_sql(tuple((sql, len(s.returning)) for sql, s in statements))
    with conn.cursor() as cursor:
        execute(cursor, sql, [param for _, s in statements for param in s.params])
        return cursor.fetchone()


def _returned(statements: Sequence[Statement], row: tuple) -> list[tuple | None]:
    """``row`` cut into each statement's ``RETURNING`` values (None where it returns none)."""
    found, position = [], 0
    for s in statements:
        found.append(tuple(row[position:position + len(s.returning)]) if s.returning else None)
        position += len(s.returning)
    return found


def execute_guarded(statements: Sequence[Statement]) -> list[tuple | None] | None:
    """Run ``statements`` as one statement (PostgreSQL, one round trip), the first being
    the guard: an ``UPDATE`` with ``expect`` (``update_statement``). The others, ``INSERT``
    statements (``insert_statement``), write their row only if the guard changed its row.
    Returns None when it did not (the row is gone or no longer has the expected values:
    nothing is written), else what ``execute_statements`` returns.

    The write half of an optimistic action: read without a lock, decide, write if the row
    is still the one read. Outside a transaction the statement is a transaction of its own
    (all or nothing; the row locked while it runs); a concurrent writer's change is seen
    (PostgreSQL re-checks the row an ``UPDATE`` waited for) and makes the guard fail.
    Raises ValueError off PostgreSQL, for an unguarded first statement or a statement that
    cannot be guarded; ``DatabaseError`` subclasses as the database reports them.
    """
    conn = _wrapper()
    if conn.vendor != "postgresql" or not statements[0].returning:
        raise ValueError("execute_guarded needs PostgreSQL and a guard (update_statement(expect=…))")
    unguarded = [s.sql[:60] for s in statements[1:] if not s.guarded_sql]
    if unguarded:
        raise ValueError(f"not an INSERT from insert_statement: {unguarded}")
    row = _run_together(conn, [(statements[0].sql, statements[0]),
                               *((s.guarded_sql, s) for s in statements[1:])])
    return None if row is None else _returned(statements, row)


def set_prefetched(obj: models.Model, name: str, instances: list[models.Model]) -> None:
    """Hand ``instances`` to ``obj`` as its prefetched ``name`` relation (a reverse foreign key),
    as ``prefetch_related`` leaves it: ``obj.<name>.all()`` then answers them without a query."""
    related = getattr(type(obj), name).rel.related_model
    queryset = related._base_manager.all()
    queryset._result_cache, queryset._prefetch_done = list(instances), True
    if not hasattr(obj, "_prefetched_objects_cache"):
        obj._prefetched_objects_cache = {}
    obj._prefetched_objects_cache[name] = queryset
