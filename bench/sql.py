"""Set-based inserts that follow the Django models, so the generator and the benchmark pools
keep working when a migration adds a column.

``insert_select(Model, {"field": "SQL expression", …}, "FROM …")`` writes one
``INSERT … SELECT`` naming every concrete column: the given expressions, ``now()`` for a
timestamp left out, the field's Python default (as a parameter) for any other NOT NULL
column left out, and nothing (NULL, the identity or the column's ``db_default``) for the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.db import connection, models
from django.db.models.fields import NOT_PROVIDED


def _default_expression(field: models.Field) -> tuple[str, list]:
    if isinstance(field, models.DateTimeField):
        return "now()", []
    if isinstance(field, models.DateField):
        return "current_date", []
    default = field.get_default()
    value = field.get_db_prep_save(default, connection)
    cast = "::jsonb" if isinstance(field, models.JSONField) else ""
    return f"%s{cast}", [value]


def insert_columns(model: type[models.Model], values: Mapping, *,
                   literal_defaults: bool = False) -> tuple[list[str], list[str], list]:
    """Return ``(columns, expressions, params)`` for an insert of ``model`` rows.

    ``values`` maps field names, attnames (``location_id``) or columns to SQL expressions,
    or to ``(expression, [params])`` when the expression has placeholders. With
    ``literal_defaults`` the defaults of the columns left out are written into the SQL as
    literals (for statements run with named parameters, which cannot mix with ``%s``).
    """
    columns, expressions, params = [], [], []
    known = dict(values)
    for field in model._meta.concrete_fields:
        expression = None
        for key in (field.name, field.attname, field.column):
            if key in known:
                expression = known.pop(key)
                break
        if expression is None:
            has_db_default = getattr(field, "db_default", NOT_PROVIDED) is not NOT_PROVIDED
            if field.primary_key or field.null or has_db_default:
                continue  # NULL, the identity or the column's database default
            expression, extra = _default_expression(field)
            if literal_defaults and extra:
                expression = connection.ops.compose_sql(expression, extra).replace("%", "%%")
            else:
                params += extra
        elif isinstance(expression, tuple):
            expression, extra = expression
            params += list(extra)
        columns.append(connection.ops.quote_name(field.column))
        expressions.append(expression)
    if known:
        raise ValueError(f"{model.__name__} has no field(s) {sorted(known)}")
    return columns, expressions, params


def insert_select(model: type[models.Model], values: Mapping, source: str,
                  params: Sequence = (), *, returning: str | None = None, cursor=None):
    """Run ``INSERT INTO <model table> (…) SELECT <values> <source>``; return the row count
    (or the fetched ``RETURNING`` rows). ``params`` are those of ``source``."""
    columns, expressions, default_params = insert_columns(model, values)
    sql = (f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({', '.join(columns)}) "
           f"SELECT {', '.join(expressions)} {source}")
    if returning:
        sql += f" RETURNING {returning}"
    own = cursor is None
    cursor = cursor or connection.cursor()
    try:
        cursor.execute(sql, [*default_params, *params])
        return cursor.fetchall() if returning else cursor.rowcount
    finally:
        if own:
            cursor.close()


def table(model: type[models.Model]) -> str:
    """The quoted table name of ``model``."""
    return connection.ops.quote_name(model._meta.db_table)


def _client_cursor():
    """A cursor of Django's connection (and transaction) that binds parameters client-side:
    a script of several statements runs in one call, and no statement is prepared (a
    check's generic plan for ``= ANY(%s)`` scans whole tables)."""
    import psycopg

    connection.ensure_connection()
    return connection.make_cursor(psycopg.ClientCursor(connection.connection))


def execute(sql: str, params: Sequence | Mapping = ()) -> int:
    """Run ``sql``, which may be a script of several statements separated by ``;``, with its
    parameters bound client-side. Returns the last statement's row count."""
    with _client_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def fetchall(sql: str, params: Sequence | Mapping = ()) -> list[tuple]:
    with _client_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def fetchone(sql: str, params: Sequence | Mapping = ()):
    with _client_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def reset_sequence(model: type[models.Model]) -> None:
    """Move the id sequence of ``model``'s table past its largest id (after explicit ids)."""
    name = model._meta.db_table
    execute(f"SELECT setval(pg_get_serial_sequence(%s, 'id'), "
            f"GREATEST((SELECT max(id) FROM {table(model)}), 1))", [name])
