"""P2: bulk actions over HTTP (500 packages per request) against the raw-SQL baseline.

    .venv/bin/python -m bench.p2_bulk                  # 2 clients x 2 requests x 500 packages, 3 runs
    .venv/bin/python -m bench.p2_bulk --clients 4

Same server, clients and baseline as P1 (``bench.p1_actions``, which documents them); the
figure is packages/s. Target (issue 8): at least 60 % of the raw-SQL baseline.
"""

from __future__ import annotations

from bench import p1_actions


def main(argv=None) -> None:
    p1_actions.main(["--bulk", *(argv if argv is not None else __import__("sys").argv[1:])])


if __name__ == "__main__":
    main()
