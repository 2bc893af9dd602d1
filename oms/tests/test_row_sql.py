"""``oms.row_sql``: rows read back from ``json_build_array`` (PostgreSQL) as the ORM reads
them, and ``execute_statements`` (one round trip on PostgreSQL, one by one elsewhere)."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import IntegrityError, NotSupportedError, connection, models, transaction
from django.test.utils import CaptureQueriesContext

from locations.models import Sku
from oms import row_sql
from oms.actors import Actor
from oms.events import event_insert_statement
from oms.models import OutboxEvent
from packages.models import Package, PackageItem, PackageTransition, Status
from packages.services import package_transition
from packages.tests.helpers import make_package

pytestmark = pytest.mark.django_db


def _values(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


@pytest.mark.postgres
@pytest.mark.parametrize("model", [Package, PackageItem, Sku, PackageTransition, OutboxEvent])
def test_a_row_read_through_json_is_the_row_the_orm_reads(model):
    package = make_package(Status.PACKAGING_COMPLETED)
    item = package.items.first()
    item.unit_price, item.freight_value = Decimal("1234567890.12"), None
    item.save()
    PackageTransition.objects.create(package=package, from_status=None, to_status=100, action="create",
                                     actor="t", payload={"nested": {"b": [1, 2.5, "é"]}, "a": None})
    OutboxEvent.objects.create(type="t", aggregate_type="package", aggregate_id=package.pk,
                               payload={"x": "0.1", "when": "2020-01-01T00:00:00Z"})
    columns = row_sql.Columns(model)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT json_agg({columns.json_sql()} ORDER BY {columns.table}.id) "
                       f"FROM {columns.table}")
        [(rows,)] = cursor.fetchall()
    read = [columns.build_json(values) for values in rows]
    assert [_values(obj) for obj in read] == [_values(obj) for obj in model.objects.order_by("id")]
    assert all(not obj._state.adding for obj in read)


def test_a_column_type_without_a_json_reading_is_refused():
    class Odd(models.Model):  # noqa: DJ008 - never saved or shown
        when = models.DurationField()

        class Meta:
            app_label = "oms"
            managed = False

    with pytest.raises(TypeError, match="DurationField"):
        row_sql.Columns(Odd).json_sql()


def test_statements_run_together_and_return_their_rows():
    package = make_package(Status.PACKAGING_COMPLETED)
    package.carrier = "correios"
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        found = row_sql.execute_statements([
            row_sql.update_statement(package, ["carrier"]),
            row_sql.insert_statement(PackageTransition, {
                "package": package.pk, "from_status": 500, "to_status": 500, "action": "note",
                "actor": "t", "reason": "", "payload": {"k": 1},
                "created_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)},
                returning_pk=True),
            event_insert_statement(type="t", aggregate_type="package", aggregate_id=package.pk,
                                   payload={})])
    writes = [q["sql"] for q in captured.captured_queries
              if not q["sql"].startswith(("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT"))]
    assert len(writes) == (1 if connection.vendor == "postgresql" else 3)
    assert found[0] is None
    log = PackageTransition.objects.get(pk=found[1][0])
    assert (log.package_id, log.action, log.payload) == (package.pk, "note", {"k": 1})
    assert OutboxEvent.objects.get(pk=found[2][0]).aggregate_id == package.pk
    assert Package.objects.get(pk=package.pk).carrier == "correios"


def test_a_failing_statement_leaves_none_of_the_others():
    package = make_package(Status.PACKAGING_COMPLETED)
    package.carrier = "changed"
    with pytest.raises(IntegrityError), transaction.atomic():
        row_sql.execute_statements([
            row_sql.update_statement(package, ["carrier"]),
            row_sql.insert_statement(PackageTransition, {  # to_status is NOT NULL
                "package": package.pk, "from_status": 500, "to_status": None, "action": "x",
                "actor": "t", "reason": "", "payload": {},
                "created_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)})])
    assert Package.objects.get(pk=package.pk).carrier != "changed"
    assert not PackageTransition.objects.filter(action="x").exists()


@pytest.fixture
def persistent(monkeypatch):
    """Connections kept across requests, as served (prepared statements need them)."""
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 600)


def _run(sql, params):
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
        row_sql.execute(cursor, sql, params)
        row = cursor.fetchone()
    return row, [q["sql"] for q in captured.captured_queries]


@pytest.mark.postgres
def test_a_statement_is_prepared_once_per_connection_then_executed(persistent):
    sql = "SELECT %s::int + %s::int, 'row'"
    first, first_sent = _run(sql, [1, 2])
    second, second_sent = _run(sql, [40, 2])
    assert (first, second) == ((3, "row"), (42, "row"))
    assert re.match(r"PREPARE oms_[0-9a-f]{16}_1 AS ", first_sent[0])
    assert first_sent[0].endswith("AS SELECT $1::int + $2::int, 'row'")
    assert re.match(r"EXECUTE oms_[0-9a-f]{16}_1\(1, 2\)$", first_sent[1]) and len(second_sent) == 1
    assert second_sent[0] == first_sent[1].replace("(1, 2)", "(40, 2)")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_prepared_statement_outlives_a_rollback_and_not_its_connection(persistent):
    sql = "SELECT %s::text || '!'"
    with pytest.raises(RuntimeError), transaction.atomic():
        assert _run(sql, ["a"])[0] == ("a!",)
        raise RuntimeError
    row, sent = _run(sql, ["b"])
    assert row == ("b!",) and sent[0].startswith("EXECUTE")
    connection.close()  # a new connection knows no prepared statement: prepared again
    row, sent = _run(sql, ["c"])
    assert row == ("c!",) and sent[0].startswith("PREPARE")


@pytest.mark.parametrize("switch", ["setting_off", "per_request_connections"])
def test_statements_are_sent_as_they_are_when_preparing_is_off(switch, persistent, settings, monkeypatch):
    if switch == "setting_off":
        settings.DATABASE_PREPARED_STATEMENTS = False
    else:
        monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    row, sent = _run("SELECT %s + 1", [1])
    assert row == (2,) and sent == ["SELECT 1 + 1"]
    assert row_sql.prepared_statements_on() is False


@pytest.mark.postgres
def test_a_literal_percent_is_refused_when_preparing(persistent):
    with pytest.raises(ValueError, match="placeholders"), connection.cursor() as cursor:
        row_sql.execute(cursor, "SELECT '100%%' || %s", ["x"])


def _guarded_writes(package, version):
    package.carrier = "guarded"
    return [row_sql.update_statement(package, ["carrier"], expect={"version": version}),
            row_sql.insert_statement(PackageTransition, {
                "package": package.pk, "from_status": 500, "to_status": 500, "action": "guarded",
                "actor": "t", "reason": "", "payload": {"k": [1]},
                "created_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}, returning_pk=True),
            event_insert_statement(type="t.guarded", aggregate_type="package", aggregate_id=package.pk,
                                   payload={"n": 1})]


@pytest.mark.postgres
@pytest.mark.parametrize("prepared", [False, True], ids=["plain", "prepared"])
def test_a_guarded_write_happens_only_while_the_row_has_the_expected_values(prepared, monkeypatch):
    if prepared:
        monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 600)
    package = make_package(Status.PACKAGING_COMPLETED)

    assert row_sql.execute_guarded(_guarded_writes(package, version=package.version + 1)) is None
    assert Package.objects.get(pk=package.pk).carrier != "guarded"
    assert not PackageTransition.objects.filter(action="guarded").exists()
    assert not OutboxEvent.objects.filter(type="t.guarded").exists()

    with CaptureQueriesContext(connection) as captured:
        found = row_sql.execute_guarded(_guarded_writes(package, version=package.version))
    assert len([q for q in captured.captured_queries if "w0" in q["sql"] or "EXECUTE" in q["sql"]]) == 1
    assert found[0] == (package.pk,)
    assert PackageTransition.objects.get(pk=found[1][0]).payload == {"k": [1]}
    assert OutboxEvent.objects.get(pk=found[2][0]).payload == {"n": 1}
    assert Package.objects.get(pk=package.pk).carrier == "guarded"


def test_a_guarded_write_needs_postgresql_and_a_guard():
    package = make_package(Status.PACKAGING_COMPLETED)
    statements = _guarded_writes(package, version=package.version)
    with pytest.raises(ValueError):
        row_sql.execute_guarded([row_sql.update_statement(package, ["carrier"]), *statements[1:]])
    if connection.vendor != "postgresql":
        with pytest.raises(ValueError, match="PostgreSQL"):
            row_sql.execute_guarded(statements)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_statement_the_server_forgot_is_prepared_again_and_run(persistent):
    """DEALLOCATE ALL (as a pooler's DISCARD ALL does) outside a transaction: the statement
    is prepared again under a new name and the call still answers."""
    sql = "SELECT %s::int * 2"
    assert _run(sql, [2])[0] == (4,)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    row, sent = _run(sql, [5])
    assert row == (10,)
    assert [q.split()[0] for q in sent] == ["EXECUTE", "PREPARE", "EXECUTE"]
    assert sent[1].split()[1].endswith("_2")


@pytest.mark.postgres
def test_after_a_migration_changes_a_returned_column_the_next_transaction_works(persistent):
    """Old server processes during a deploy: a column the prepared read returns changes type.
    Inside a transaction the error aborts it (raised); the next use prepares again."""
    actor = Actor("api", "integrator")
    first, second = make_package(Status.PENDING), make_package(Status.PENDING)
    package_transition(action="start_preparing", number=first.number, actor=actor)  # prepares
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # deferred FK checks of the test data
        cursor.execute("ALTER TABLE packages_package ALTER COLUMN carrier TYPE varchar(100)")
    with pytest.raises(NotSupportedError), transaction.atomic():
        package_transition(action="start_preparing", number=second.number, actor=actor)
    moved = package_transition(action="start_preparing", number=second.number, actor=actor)
    assert moved.status == Status.IN_PROGRESS
    assert Package.objects.get(pk=second.pk).status == Status.IN_PROGRESS
