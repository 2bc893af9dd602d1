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

import functools
import weakref
from collections.abc import Sequence

from django.db import DEFAULT_DB_ALIAS, connection, connections, models


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


def update_row(obj: models.Model, fields: Sequence[str]) -> int:
    """Write ``fields`` of the saved ``obj`` in one ``UPDATE`` by primary key; return the row
    count. Values are prepared as ``save()`` prepares them (``get_db_prep_save``); nothing else
    runs (no ``pre_save``: set ``auto_now`` fields yourself; no signals). Raises
    ``DatabaseError`` subclasses as the database reports them."""
    meta = type(obj)._meta
    fields = tuple(fields)
    params = [meta.get_field(name).get_db_prep_save(getattr(obj, meta.get_field(name).attname), connection)
              for name in fields]
    params.append(meta.pk.get_db_prep_save(obj.pk, connection))
    with connection.cursor() as cursor:
        cursor.execute(update_sql(type(obj), fields), params)
        return cursor.rowcount


@functools.cache
def insert_sql(model: type[models.Model], fields: tuple[str, ...]) -> str:
    """``INSERT INTO <table> (<columns>) VALUES (%s, …)`` for ``fields`` (attribute names)."""
    meta = model._meta
    columns = ", ".join(quote(meta.get_field(name).column) for name in fields)
    marks = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks})"


def insert_row(model: type[models.Model], values: dict) -> None:
    """Insert one row of ``model`` from ``{attribute name: value}``, values prepared as
    ``save()`` prepares them (``get_db_prep_save``). Columns not named take their *database*
    default (``db_default``): name every column that has only a Python default. No instance,
    no signals, no id returned."""
    meta = model._meta
    fields = tuple(values)
    params = [meta.get_field(name).get_db_prep_save(value, connection) for name, value in values.items()]
    with connection.cursor() as cursor:
        cursor.execute(insert_sql(model, fields), params)


def set_prefetched(obj: models.Model, name: str, instances: list[models.Model]) -> None:
    """Hand ``instances`` to ``obj`` as its prefetched ``name`` relation (a reverse foreign key),
    as ``prefetch_related`` leaves it: ``obj.<name>.all()`` then answers them without a query."""
    related = getattr(type(obj), name).rel.related_model
    queryset = related._base_manager.all()
    queryset._result_cache, queryset._prefetch_done = list(instances), True
    if not hasattr(obj, "_prefetched_objects_cache"):
        obj._prefetched_objects_cache = {}
    obj._prefetched_objects_cache[name] = queryset
