"""The migrations match the models, and the write-heavy tables carry only the indexes that
some query uses (docs/benchmarks.md, P5 step 3)."""

import io

import pytest
from django.core.management import call_command
from django.db import connection

from locations.models import StockLevel
from oms.events.models import OutboxEvent
from packages.models import Package, PackageItem, PackageTransition


@pytest.mark.django_db
def test_makemigrations_check_finds_no_missing_migration():
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exc:  # --check exits 1 when a model change has no migration
        pytest.fail(f"models and migrations differ (exit {exc.code}):\n{out.getvalue()}")
    assert "No changes detected" in out.getvalue()


def _indexes(model) -> dict[str, str]:
    """``{index name: definition}`` of the model's table (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s",
                       [model._meta.db_table])
        return dict(cursor.fetchall())


@pytest.mark.postgres
@pytest.mark.django_db
def test_import_tables_have_no_pattern_ops_or_redundant_indexes():
    # single-column indexes that would duplicate the composite index they lead, or that no
    # query reads (created_at; the outbox sweeper has its own partial index)
    redundant = {
        Package: {"location_id", "created_at"},
        PackageItem: {"package_id"},
        PackageTransition: {"package_id"},
        OutboxEvent: {"created_at"},
        StockLevel: {"location_id", "sku_id", "created_at"},
    }
    for model, unwanted in redundant.items():
        definitions = _indexes(model)
        assert not [d for d in definitions.values() if "pattern_ops" in d], model
        columns = {d.split("(", 1)[1].rstrip(")") for d in definitions.values()}
        assert not unwanted & columns, (model, columns)
    package = _indexes(Package)
    assert "UNIQUE" in package["package_number_uniq"]
    assert "UNIQUE" in package["package_external_ref_uniq"]
    assert "(order_number)" in package["package_order_number_idx"]
    assert "(location_id, status)" in " ".join(package.values())
    assert "(type)" in _indexes(OutboxEvent)["outbox_type_idx"]


@pytest.mark.parametrize("app, migration", [
    ("packages", "0003_package_indexes_without_like_twins"),
    ("locations", "0003_drop_redundant_stock_level_indexes"),
])
@pytest.mark.postgres
@pytest.mark.django_db
def test_dropping_a_foreign_key_index_keeps_the_constraint(app, migration):
    """Regression: ``AlterField(db_index=False)`` dropped and re-added each foreign key,
    which re-validates every row of the table under lock; only the index may go."""
    out = io.StringIO()
    call_command("sqlmigrate", app, migration, stdout=out)
    sql = out.getvalue()
    assert "DROP INDEX" in sql
    assert "FOREIGN KEY" not in sql
