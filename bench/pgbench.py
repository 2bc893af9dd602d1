"""Raw-SQL baselines run by pgbench, and CPU time of process trees read from ``/proc``.

``run_pgbench(script, …)`` runs ``pgbench -n -M prepared -f <script> -c <clients> -j <clients>
-t <transactions per client> -l`` against Django's current database (pgbench is a client
outside this process, with prepared statements, as fast a client as PostgreSQL has) and
returns its throughput (pgbench's ``tps``, connection time excluded), the per-transaction
latencies from its log and the exact command line. pgbench is ``$PGBENCH``, else on ``PATH``,
else ``/usr/bin/pgbench`` (Debian's ``postgresql-client``).

``CpuMeter`` measures, over a block, the CPU seconds (user + system) of named process trees
(a process and all its descendants, exited ones included through their parent's
``cutime``/``cstime``), of this process with its reaped children (the benchmark's clients,
pgbench) and the machine's busy time (``/proc/stat``). Linux only; elsewhere the figures are
NaN.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench.harness import current_database_url

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def pgbench_executable() -> str:
    return os.environ.get("PGBENCH") or shutil.which("pgbench") or "/usr/bin/pgbench"


@dataclass
class PgbenchRun:
    """One pgbench run: transactions done and failed, transactions/s, latencies (s), command."""

    transactions: int
    failed: int
    tps: float
    latencies: list[float] = field(default_factory=list)
    command: str = ""
    output: str = ""

    @property
    def seconds(self) -> float:
        return self.transactions / self.tps if self.tps else float("nan")

    def percentile(self, p: float) -> float:
        values = sorted(self.latencies)
        return values[min(len(values) - 1, int(p * len(values)))] if values else float("nan")


def pgbench_command(script: Path, *, clients: int, transactions: int, variables: dict[str, object],
                    log_prefix: str | None = None) -> list[str]:
    """The pgbench command line for ``script`` on Django's current database."""
    parts = urlsplit(current_database_url())
    cmd = [pgbench_executable(), "-n", "-M", "prepared", "-f", str(script), "-c", str(clients),
           "-j", str(clients), "-t", str(transactions)]
    for name, value in variables.items():
        cmd += ["-D", f"{name}={value}"]
    if log_prefix:
        cmd += ["-l", f"--log-prefix={log_prefix}"]
    cmd += ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432),
            "-U", parts.username or "postgres", parts.path.lstrip("/")]
    return cmd


def run_pgbench(script: Path, *, clients: int, transactions: int,
                variables: dict[str, object]) -> PgbenchRun:
    """Run ``script`` with ``clients`` connections, ``transactions`` each; return the run.
    Raises RuntimeError when pgbench fails or reports failed or missing transactions."""
    with tempfile.TemporaryDirectory(prefix="oms-pgbench-") as logs:
        prefix = str(Path(logs) / "tx")
        cmd = pgbench_command(script, clients=clients, transactions=transactions, variables=variables,
                              log_prefix=prefix)
        env = dict(os.environ)
        password = urlsplit(current_database_url()).password
        if password:
            env["PGPASSWORD"] = password
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=logs)
        output = done.stdout + done.stderr
        if done.returncode != 0:
            raise RuntimeError(f"pgbench exited {done.returncode}: {output[-2000:]}")
        latencies = []
        for path in Path(logs).glob("tx.*"):
            for line in path.read_text().splitlines():
                fields = line.split()
                if len(fields) >= 3 and fields[2].isdigit():
                    latencies.append(int(fields[2]) / 1e6)
    processed = re.search(r"number of transactions actually processed: (\d+)", output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", output)
    run = PgbenchRun(transactions=int(processed.group(1)) if processed else 0,
                     failed=int(failed.group(1)) if failed else 0,
                     tps=float(tps.group(1)) if tps else float("nan"), latencies=latencies,
                     command=" ".join(_shell_word(part) for part in cmd if not part.startswith("--log-prefix")
                                      and part != "-l"),
                     output=output)
    if run.failed or run.transactions != clients * transactions:
        raise RuntimeError(f"pgbench: {run.transactions}/{clients * transactions} transactions, "
                           f"{run.failed} failed: {output[-2000:]}")
    return run


def _shell_word(text: str) -> str:
    return text if re.fullmatch(r"[\w@%+=:,./-]+", text) else "'" + text.replace("'", "'\\''") + "'"


# --- CPU ----------------------------------------------------------------------------------------

def _stat_table() -> dict[int, tuple[int, int]]:
    """``{pid: (ppid, utime + stime + cutime + cstime in ticks)}`` of every process."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        table[int(entry.name)] = (int(fields[1]), sum(int(v) for v in fields[11:15]))
    return table


def tree_cpu_seconds(roots: dict[str, int | None]) -> dict[str, float]:
    """CPU seconds used so far by each named process tree (NaN when its root is unknown)."""
    try:
        table = _stat_table()
    except OSError:
        return {name: float("nan") for name in roots}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    result = {}
    for name, root in roots.items():
        if root is None or root not in table:
            result[name] = float("nan")
            continue
        total, stack = 0, [root]
        while stack:
            pid = stack.pop()
            total += table[pid][1]
            stack += children.get(pid, [])
        result[name] = total / CLOCK_TICKS
    return result


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy so far (``/proc/stat``: all but idle and iowait)."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
    except OSError:
        return float("nan")
    return (sum(values) - values[3] - values[4]) / CLOCK_TICKS


def postgresql_server_pid() -> int | None:
    """The postmaster's pid when PostgreSQL runs on this machine (parent of our backend)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    try:
        with open(f"/proc/{backend}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[1])
    except OSError:
        return None


class CpuMeter:
    """``with CpuMeter({"server": pid, "postgresql": pid}) as m: …``; then ``m.seconds`` holds
    the CPU seconds each tree used in the block, ``client`` (this process and the children it
    reaped in the block, e.g. pgbench) and ``machine`` (busy time of all cores)."""

    def __init__(self, roots: dict[str, int | None]):
        self.roots = roots
        self.seconds: dict[str, float] = {}

    def __enter__(self) -> CpuMeter:
        self._trees = tree_cpu_seconds(self.roots)
        self._times = os.times()
        self._machine = machine_busy_seconds()
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(0.05)  # let exited backends be reaped into the postmaster's cutime
        trees = tree_cpu_seconds(self.roots)
        times = os.times()
        self.seconds = {name: trees[name] - self._trees[name] for name in self.roots}
        self.seconds["client"] = sum(times[:4]) - sum(self._times[:4])
        self.seconds["machine"] = machine_busy_seconds() - self._machine

    def per_request_ms(self, requests: int) -> dict[str, float]:
        return {name: value * 1000 / requests for name, value in self.seconds.items()}
