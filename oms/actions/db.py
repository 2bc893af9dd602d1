"""Database helpers shared by the services."""

from __future__ import annotations

import functools
import logging
import random
import time

from django.db import OperationalError, connection

logger = logging.getLogger(__name__)

# PostgreSQL SQLSTATEs worth one more try: deadlock_detected, serialization_failure.
RETRYABLE_SQLSTATES = {"40P01", "40001"}


def retry_on_deadlock(func=None, *, attempts: int = 3):
    """Run the decorated service again when PostgreSQL aborted it as a deadlock victim.

    Services that lock rows at two stock locations (a package at A needing units from B
    while another at B needs units from A) cannot always take their locks in one global
    order, so PostgreSQL may abort one of them. The aborted transaction wrote nothing; this
    retries it up to ``attempts`` times with a short random pause. Inside an outer
    transaction nothing can be retried, so the error propagates to the outermost caller.
    Put it outside ``@transaction.atomic``.
    """
    if func is None:
        return functools.partial(retry_on_deadlock, attempts=attempts)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        for attempt in range(1, attempts + 1):
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                sqlstate = getattr(getattr(exc, "__cause__", None), "sqlstate", None)
                if (sqlstate not in RETRYABLE_SQLSTATES or connection.in_atomic_block
                        or attempt == attempts):
                    raise
                logger.info("%s: %s (attempt %d), retrying", func.__name__, sqlstate, attempt)
                time.sleep(random.uniform(0.005, 0.05) * attempt)
        raise AssertionError("unreachable")

    return wrapper
