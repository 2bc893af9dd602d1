"""P2: bulk ship over HTTP (500 packages per request) against the set-based raw-SQL baseline.

    .venv/bin/python -m bench.p2_bulk                  # 2 clients x 10 requests x 500 packages, 3 runs
    .venv/bin/python -m bench.p2_bulk --clients 4

``bench.p1_actions --bulk``, which documents server, pool, clients and baseline: the
application's ``POST /api/v1/packages/actions/ship/`` against pgbench running one set-based
statement per 500 packages (``bench.actions.p2_statement``); the figure is packages/s.
Target (the issue): at least 40 % of the raw-SQL baseline.
"""

from __future__ import annotations

from bench import p1_actions


def main(argv=None) -> None:
    p1_actions.main(["--bulk", *(argv if argv is not None else __import__("sys").argv[1:])])


if __name__ == "__main__":
    main()
