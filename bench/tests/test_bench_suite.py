"""The suite runner: one verdict table from every benchmark's result, each row with the
command that re-runs it; a benchmark that fails or writes a result the suite cannot read
is a row saying so, not a crash."""

from __future__ import annotations

import json
import sys

from bench import suite


def _p3_result() -> dict:
    row = {"row": "history", "page": "dashboard", "open": [2000, 2000], "ms": [40.0, 50.0],
           "queries": [5, 5], "raw_sql_ms": [10.0, 20.0], "figure": 1.25, "target": "<= 1.5x 50k",
           "met": True, "same_numbers": True, "command": "python -m bench.p3_dashboard --rows history"}
    share = {**row, "row": "share", "open": [2000, 40000], "figure": 2.5, "target": "<= 1.5x raw SQL",
             "met": False, "command": "python -m bench.p3_dashboard --rows share"}
    return {"small": 50000, "large": 1000000, "rows": [row, share]}


def test_the_table_has_a_verdict_and_a_command_per_row_and_goes_on_after_a_failure(tmp_path):
    results = {"P3": _p3_result(), "P6": {"packages": 200000, "ratio": 0.98, "target_met": True, "pages": {
        "page 1": {"ms": 11.0}, "page at row 100,001": {"ms": 10.8}}}}

    def runner(bench, profile, db):
        command = " ".join(suite.command_line(bench, profile, db))
        if bench.name == "P4":
            return [suite.Row("P4", "failed", "", "", "", "", None, command)], {"exit_status": 1}
        if bench.name not in results:
            return suite.rows_from(bench, {"unexpected": True}, command), {"exit_status": 0}
        return suite.rows_from(bench, results[bench.name], command), {"exit_status": 0}

    out = suite.run(profile="issue", db="oms_x", only=["P3", "P4", "P5", "P6"], runner=runner)
    rows = {(r["benchmark"], r["what"].split(",")[0]): r for r in out["rows"] if "4 % open" not in r["what"]}
    assert rows["P3", "dashboard"]["met"] is True
    assert rows["P3", "dashboard"]["command"] == "python -m bench.p3_dashboard --rows history"
    share = next(r for r in out["rows"] if r["benchmark"] == "P3" and "4 % open" in r["what"])
    assert share["met"] is False and share["ratio"] == "2.50x"
    assert rows["P4", "failed"]["met"] is None
    assert rows["P4", "failed"]["command"].endswith(
        "bench.p4_recheck --db oms_x --packages 100000 --repeat 1")
    assert rows["P5", "unreadable result (KeyError: 'item_rows')"]["met"] is None
    p6 = next(r for r in out["rows"] if r["benchmark"] == "P6")
    assert p6["command"].endswith("bench.p6_list --db oms_x_1000000 --packages 1000000")
    assert (p6["ratio"], p6["met"]) == ("0.98x", True)
    assert out["all_met"] is False
    text = suite.render([suite.Row(**r) for r in out["rows"]], "t")
    assert "NOT met" in text and "re-run with" in text
    json.dumps(out)


def test_a_benchmark_runs_as_its_own_command_with_its_json(monkeypatch, tmp_path):
    calls = []

    class Done:
        returncode = 0

    def fake_run(argv, cwd):
        calls.append(argv)
        path = argv[argv.index("--json") + 1]
        with open(path, "w") as f:
            json.dump({"packages": 300, "service_seconds": [2.0], "sql_seconds": [1.0], "ratio": 2.0,
                       "target_met": True, "mismatches": []}, f)
        return Done()

    monkeypatch.setattr(suite.subprocess, "run", fake_run)
    bench = next(b for b in suite.BENCHMARKS if b.name == "P4")
    rows, record = suite.run_one(bench, "default", "oms_y", json_dir=tmp_path)
    assert calls[0][:4] == [sys.executable, "-m", "bench.p4_recheck", "--db"] and calls[0][4] == "oms_y"
    assert record["command"] == ".venv/bin/python -m bench.p4_recheck --db oms_y"
    assert [(r.ratio, r.met, r.command) for r in rows] == [("2.00x", True, record["command"])]


def test_a_benchmark_prints_the_command_that_re_runs_it_with_every_option():
    from bench.harness import base_parser, rerun_command

    parser = base_parser("x", db="oms_bench")
    parser.add_argument("--packages", type=int, default=20_000)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    args = parser.parse_args(["--db", "oms_z", "--no-memory", "--json", "/tmp/x.json"])
    assert rerun_command("bench.p4_recheck", args) == (
        ".venv/bin/python -m bench.p4_recheck --db oms_z --repeat 3 --packages 20000 --no-memory")
