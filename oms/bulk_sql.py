"""Set-based writes of many model rows in one statement on PostgreSQL (imports, bulk services).

``bulk_create`` builds a model instance per row and prepares the INSERT value by value; for
tens of thousands of rows that costs more than PostgreSQL takes to write them
(docs/benchmarks.md, P5). ``insert_rows`` writes the same rows with one
``INSERT … SELECT … FROM unnest(%s::type[], …)`` statement: one array parameter per column,
sent as one array literal (``'{"a","b",NULL}'``) built here: three times cheaper than
psycopg's own dump of a Python list, or than ``bulk_create``, for the outbox events of a
bulk action (docs/benchmarks.md). ``rows_update`` writes changed rows the same way; the
action engine saves every batch with it (``QuerySet.bulk_update`` builds a ``CASE`` per
field and row, which cost more than the rest of a bulk action together).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from django.db import connection, models


def supported() -> bool:
    """True when ``insert_rows`` can run on the default database (PostgreSQL).

    Callers look it up as ``bulk_sql.supported()`` at call time, so a test can switch
    the portable path (``bulk_create``) on for PostgreSQL too."""
    return connection.vendor == "postgresql"


def columns_of(names: Sequence[str], rows: Sequence[Sequence]) -> dict[str, list]:
    """Turn row tuples into ``insert_rows``'s ``{name: [value per row]}``."""
    return {name: [row[position] for row in rows] for position, name in enumerate(names)}


def _text(value) -> str:
    """``value`` as PostgreSQL's input syntax for its column type reads it."""
    encode = _ENCODERS.get(type(value))
    if encode is None:  # subclasses: enum members, Django choices
        encode = next((f for t, f in _ENCODERS.items() if isinstance(value, t)), None)
        if encode is None:
            raise TypeError(f"cannot send {type(value).__name__} {value!r} in an array literal")
    return encode(value)


_ENCODERS = {
    bool: lambda value: "t" if value else "f",  # before int: bool is an int
    str: str,
    int: lambda value: str(int(value)),
    Decimal: str,
    float: repr,
    dt.datetime: dt.datetime.isoformat,  # aware: the offset makes it unambiguous
    dt.date: dt.date.isoformat,
    uuid.UUID: str,
}


def array_literal(values: Sequence) -> str:
    """Return ``values`` as a PostgreSQL array literal: ``['a', None, 'b"c']`` ->
    ``'{"a",NULL,"b\\"c"}'`` (every value quoted, so the text ``"NULL"`` stays text)."""
    return "{" + ",".join(
        "NULL" if value is None
        else '"' + _text(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        for value in values) + "}"


IN_CHUNK_SIZE = 500  # values per ``__in`` lookup elsewhere (SQLite's parameter limit)


def rows_matching(model: type[models.Model], field_name: str, values: Iterable,
                  columns: Sequence[str]) -> list[tuple]:
    """Return ``columns`` of the ``model`` rows whose ``field_name`` is one of ``values``.

    On PostgreSQL one ``WHERE field = ANY(%s)`` query with the values as one array literal
    (an index scan, however many values); elsewhere ``__in`` lookups of ``IN_CHUNK_SIZE``
    values. Rows come in no particular order.
    """
    values = sorted(set(values))
    if not values:
        return []
    if not supported():
        return [row for start in range(0, len(values), IN_CHUNK_SIZE)
                for row in model.objects.filter(**{f"{field_name}__in": values[start:start + IN_CHUNK_SIZE]})
                .order_by().values_list(*columns)]
    fields = {f.name: f for f in model._meta.concrete_fields} | {
        f.attname: f for f in model._meta.concrete_fields}
    quote = connection.ops.quote_name
    field = fields[field_name]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(quote(fields[name].column) for name in columns)} "
            f"FROM {quote(model._meta.db_table)} "
            f"WHERE {quote(field.column)} = ANY(%s::{_array_type(field)}[])", [array_literal(values)])
        return cursor.fetchall()


def _array_type(field: models.Field) -> str:
    """The SQL type the column's values are passed as. Strings go as ``text`` and numbers
    as ``numeric``: an explicit cast to ``varchar(n)`` would cut a long value instead of
    refusing it as the INSERT does, and the assignment to the column rounds as it would."""
    if isinstance(field, models.JSONField):
        return "text"  # serialised JSON, cast to jsonb in the SELECT list
    db_type = field.db_type(connection)
    if db_type.startswith(("varchar", "char")):
        return "text"
    if db_type.startswith("numeric"):
        return "numeric"
    return db_type


def _sql_type(field: models.Field) -> str:
    return "jsonb" if isinstance(field, models.JSONField) else _array_type(field)


def _prepare(field: models.Field):
    """Return the function turning a Python value of ``field`` into a query parameter.

    JSON values are serialised with the field's encoder (passed as text, cast to jsonb);
    the rest as ``get_db_prep_save`` returns them on PostgreSQL (str, int, Decimal, datetime,
    date, UUID, None), which ``array_literal`` encodes.
    """
    if isinstance(field, models.JSONField):
        encoder = field.encoder
        return lambda value: None if value is None else json.dumps(value, cls=encoder)
    return lambda value: field.get_db_prep_save(value, connection)


def insert_rows(model: type[models.Model], columns: Mapping[str, Sequence], *,
                constants: Mapping[str, object] | None = None,
                expressions: Mapping[str, str] | None = None, now: dt.datetime,
                returning: Sequence[str] = (), ignore_conflicts: bool = False) -> list[tuple]:
    """Insert rows of ``model`` in one statement; return the ``returning`` columns of each.

    ``columns`` maps field names (or attnames, ``location_id``) to one value per row, all
    lists of the same length, in the types the model field takes (aware datetimes,
    ``Decimal``, ``dict``/``list`` for JSON fields). ``constants`` maps fields to one value
    for every row. Every other concrete field gets what ``Model.save()`` would give it:
    ``now`` for ``auto_now``/``auto_now_add`` fields, the field's default (a callable
    default is called once; a unique field must be given per row), else nothing (NULL, the
    identity of the primary key, or the column's ``db_default``). ``ignore_conflicts`` adds
    ``ON CONFLICT DO NOTHING`` (as ``bulk_create(ignore_conflicts=True)``): rows that would
    break a unique constraint are left out, and out of the ``RETURNING`` rows.

    ``RETURNING`` rows come back as inserted, which for this plan (one function scan) is
    the order of the lists; return a unique column to match them when it matters.
    PostgreSQL only (``supported()``); run it inside the caller's transaction.
    Raises the database's ``IntegrityError`` / ``DataError`` as an INSERT would.
    """
    constants = dict(constants or {})
    expressions = dict(expressions or {})
    fields = {}
    for field in model._meta.concrete_fields:
        fields[field.name] = fields[field.attname] = field
    unknown = [name for name in (*columns, *constants, *expressions) if name not in fields]
    if unknown:
        raise ValueError(f"{model.__name__} has no field(s) {unknown}")
    if not columns:
        raise ValueError("give at least one column of per-row values")
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    if not next(iter(lengths)):
        return []
    given = {fields[name].attname for name in (*columns, *constants, *expressions)}
    for field in model._meta.concrete_fields:
        if field.attname in given or field.primary_key or field.has_db_default():
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            constants[field.attname] = now
        elif field.has_default():
            if field.unique:
                raise ValueError(f"{model.__name__}.{field.name} is unique: give one value per row")
            constants[field.attname] = field.get_default()
        elif not field.null:
            constants[field.attname] = field.get_default()  # "" for strings, as save() writes

    quote = connection.ops.quote_name
    names, selects, arrays, params = [], [], [], []
    for name, expression in expressions.items():
        names.append(quote(fields[name].column))
        selects.append(expression)
    for name, value in constants.items():  # the SELECT list's placeholders come first
        field = fields[name]
        names.append(quote(field.column))
        selects.append(f"%s::{_sql_type(field)}")
        params.append(_prepare(field)(value))
    for position, name in enumerate(columns):
        field = fields[name]
        names.append(quote(field.column))
        selects.append(f"c{position}" + ("::jsonb" if isinstance(field, models.JSONField) else ""))
        arrays.append(f"%s::{_array_type(field)}[]")
    for name, values in columns.items():  # then the arrays of unnest(...)
        field = fields[name]
        if isinstance(field, models.JSONField):
            values = map(_prepare(field), values)
        params.append(array_literal(values))
    aliases = ", ".join(f"c{position}" for position in range(len(columns)))
    sql = (f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(names)}) "
           f"SELECT {', '.join(selects)} FROM unnest({', '.join(arrays)}) AS u({aliases})")
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(quote(fields[name].column) for name in returning)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if returning else []


def _base_type(field: models.Field) -> str:
    """The column's type without a length: ``varchar`` for ``varchar(64)`` (an explicit cast
    to ``varchar(64)`` would truncate silently; the assignment to the column then checks)."""
    if isinstance(field, models.CharField):
        return connection.ops.cast_char_field_without_max_length
    return field.db_type(connection)


def rows_update(objs: Sequence[models.Model], fields: Sequence[str]) -> int:
    """Write ``fields`` of every object in ``objs`` (saved rows of one model) in one statement.

    PostgreSQL: ``UPDATE <table> SET f = v.f, … FROM unnest(%s::type[], …) AS v(pk, f, …)
    WHERE <table>.pk = v.pk``, one array literal per column, the values prepared as
    ``Model.save()`` would (``get_db_prep_save``). The arrays are cast to the column's base
    type (``varchar``, not ``varchar(64)``), so a value too long for its column raises
    ``DataError`` as a ``save()`` would instead of being truncated. Other databases:
    ``QuerySet.bulk_update`` (same rows written, more SQL).

    Nothing else happens: no ``pre_save`` (set ``auto_now`` fields yourself), no signals,
    no checks that the rows exist. The caller should hold the rows' locks.

    Returns the number of rows updated. Raises ``django.db.DatabaseError`` subclasses as
    the database reports them (constraint violations, over-long values).
    """
    if not objs:
        return 0
    model = type(objs[0])
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    if connection.vendor != "postgresql":
        return model._base_manager.bulk_update(objs, list(fields), batch_size=500)
    quote = connection.ops.quote_name
    pk = meta.pk
    arrays = [array_literal([pk.get_db_prep_save(obj.pk, connection) for obj in objs])]
    arrays += [array_literal([_prepare(field)(getattr(obj, field.attname)) for obj in objs])
               for field in columns]
    names = [quote(pk.column)] + [quote(field.column) for field in columns]
    casts = ", ".join(
        f"%s::{_array_type(field) if isinstance(field, models.JSONField) else _base_type(field)}[]"
        for field in [pk, *columns])
    assignments = ", ".join(
        f"{quote(field.column)} = v.{quote(field.column)}"
        + ("::jsonb" if isinstance(field, models.JSONField) else "") for field in columns)
    table = quote(meta.db_table)
    sql = (f"UPDATE {table} SET {assignments} FROM unnest({casts}) AS v({', '.join(names)}) "
           f"WHERE {table}.{quote(pk.column)} = v.{quote(pk.column)}")
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        return cursor.rowcount
