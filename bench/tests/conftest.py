"""Fixtures of the benchmark tests."""

import pytest

from bench import harness


@pytest.fixture
def bench_database(transactional_db):
    """The pytest database, marked as a benchmark's: pytest created it for these tests, so the
    benchmarks may fill and empty it (they refuse any database without the marker)."""
    if not harness.is_marked():
        harness.mark_database("pytest (bench/tests)")
