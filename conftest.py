"""Shared fixtures. ``postgres`` marks tests that need row locks: skipped on SQLite."""

import pytest
from django.db import connection

from oms.actions.actors import Actor, system_actor


def pytest_collection_modifyitems(config, items):
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(
        reason="needs PostgreSQL (row locks / concurrency); set DATABASE_URL=postgres://… to run"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Every test starts with no rate-limit counts (the cache outlives test transactions)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def operator():
    """An operator actor (browser/admin user); no database row needed."""
    return Actor(kind="user", name="operator")


@pytest.fixture
def integrator():
    return Actor(kind="api", name="integrator")


@pytest.fixture
def system():
    return system_actor()
