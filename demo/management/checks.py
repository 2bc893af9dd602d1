"""Checks the demo commands run before touching the database."""

from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor


def require_migrated() -> None:
    """Raise CommandError when the database lacks migrations (a fresh clone before
    ``scripts/run`` or ``scripts/manage migrate``)."""
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    unapplied = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if unapplied:
        raise CommandError(f"The database lacks {len(unapplied)} migration(s): run `scripts/manage migrate` "
                           "(or `scripts/run`, which migrates and loads the demo) first.")
