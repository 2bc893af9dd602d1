"""Set-based writes of many model rows in one statement (bulk services)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, models


def _base_type(field: models.Field) -> str:
    """The column's type without a length: ``varchar`` for ``varchar(64)`` (an explicit cast
    to ``varchar(64)`` would truncate silently; the assignment to the column then checks)."""
    if isinstance(field, models.CharField):
        return connection.ops.cast_char_field_without_max_length
    return field.db_type(connection)


def rows_update(objs: Sequence[models.Model], fields: Sequence[str]) -> int:
    """Write ``fields`` of every object in ``objs`` (saved rows of one model) in one statement.

    PostgreSQL: ``UPDATE <table> SET f = v.f, … FROM unnest(%s::type[], …) AS v(pk, f, …)
    WHERE <table>.pk = v.pk``, one array parameter per column, the values prepared as
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
    arrays = [[pk.get_db_prep_save(obj.pk, connection) for obj in objs]]
    arrays += [[field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in objs]
               for field in columns]
    names = [quote(pk.column)] + [quote(field.column) for field in columns]
    casts = ", ".join(f"%s::{_base_type(field)}[]" for field in [pk, *columns])
    assignments = ", ".join(f"{quote(field.column)} = v.{quote(field.column)}" for field in columns)
    table = quote(meta.db_table)
    sql = (f"UPDATE {table} SET {assignments} FROM unnest({casts}) AS v({', '.join(names)}) "
           f"WHERE {table}.{quote(pk.column)} = v.{quote(pk.column)}")
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        return cursor.rowcount
