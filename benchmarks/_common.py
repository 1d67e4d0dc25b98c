"""
Shared plumbing of the benchmarks: the emulator subprocess, tables, JSON results.

The emulator always runs in its own process so that it never competes with the measured
code for the GIL; everything talks to it over loopback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
#: A distinctive key, so that nothing here can be confused with a real one.
API_KEY = "sqk_bench_0123456789abcdef0123"

_LISTENING = re.compile(r"listening on (?P<url>https?://\S+).*?(?: cert: (?P<cert>\S+))?$")


@dataclass
class Emulator:
    """A running emulator subprocess."""

    url: str
    cert: str | None
    process: subprocess.Popen[str]

    @property
    def port(self) -> int:
        """Return the TCP port it listens on."""
        return int(self.url.rsplit(":", 1)[1])

    def client(self) -> Any:
        """Return an ``EmulatorClient`` for the control API."""
        from airflow_provider_smartlyq.testing.emulator import EmulatorClient

        return EmulatorClient(self.url, verify=self.cert or True)

    def smartlyq_conn(self, **extra: Any) -> str:
        """Return the ``AIRFLOW_CONN_SMARTLYQ_DEFAULT`` value (JSON form)."""
        if self.cert:
            extra.setdefault("ca_bundle", self.cert)
        return json.dumps({"conn_type": "smartlyq", "host": self.url, "password": API_KEY, "extra": extra})

    def http_conn(self) -> str:
        """Return an ``AIRFLOW_CONN_HTTP_DEFAULT`` value: the http provider's way to reach the API."""
        extra = {"Authorization": f"Bearer {API_KEY}"}
        return json.dumps({"conn_type": "http", "host": self.url, "extra": extra})

    def cpu_seconds(self) -> float:
        """Return the emulator process' CPU time so far (user + system)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def emulator(*args: str, startup_timeout: float = 60.0) -> Iterator[Emulator]:
    """
    Start ``python -m airflow_provider_smartlyq.emulator --port 0 ...`` and stop it on exit.

    :param args: Extra command-line arguments (``--tls``, ``--seed empty``, ``--connect-ttl``...).
    """
    cmd = [sys.executable, "-m", "airflow_provider_smartlyq.emulator", "--port", "0", "--api-key", API_KEY]
    cmd += list(args)
    if "--seed" not in args:
        cmd += ["--seed", "demo"]
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=bench_env()
    )
    try:
        deadline = time.monotonic() + startup_timeout
        assert process.stdout is not None
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"emulator exited: {''.join(seen)}")
            seen.append(line)
            match = _LISTENING.search(line.strip())
            if match:
                break
        else:
            raise RuntimeError(f"emulator did not start: {''.join(seen)}")
        # Keep draining its output so that a chatty server can never block on a full pipe.
        _drain(process)
        yield Emulator(match["url"], match["cert"], process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _drain(process: subprocess.Popen[str]) -> None:
    import threading

    def pump() -> None:
        assert process.stdout is not None
        for _ in process.stdout:
            pass

    threading.Thread(target=pump, daemon=True).start()


_AIRFLOW_HOME: str | None = None


def bench_env(**extra: str) -> dict[str, str]:
    """Return an environment for subprocesses: a throw-away ``AIRFLOW_HOME``, quiet Airflow."""
    global _AIRFLOW_HOME
    if _AIRFLOW_HOME is None:
        _AIRFLOW_HOME = tempfile.mkdtemp(prefix="smartlyq-bench-home-")
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=_AIRFLOW_HOME,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def use_bench_env(**extra: str) -> None:
    """Apply :func:`bench_env` to this process (call before importing Airflow)."""
    os.environ.update({k: v for k, v in bench_env(**extra).items() if os.environ.get(k) != v})


# -- numbers -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Return the ``q``-th percentile (0-100) of ``values``, nearest-rank; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    """Return the median of ``values``."""
    return statistics.median(values)


def ratio(peer: float, ours: float) -> float:
    """Return ``peer / ours`` (how many times better we are when lower is better)."""
    if ours == 0:
        return float("inf")
    return peer / ours


def fmt(value: Any, digits: int = 2) -> str:
    """Format a number for a table."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        if value == float("inf"):
            return "∞"
        return f"{value:,.{digits}f}"
    return str(value)


# -- output --------------------------------------------------------------------------------


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], note: str = "") -> None:
    """Print a table with rich (plain text when stdout is not a terminal)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=note or None, caption_justify="left")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*(fmt(cell) for cell in row))
    Console(width=max(120, len(columns) * 16)).print(table)


def show_report(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], note: str, verdict: Sequence[str]
) -> None:
    """Print a benchmark's table, then its target checks."""
    print_table(title, columns, rows, note)
    for line in verdict:
        print("  " + line)


def markdown_report(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], text: str, verdict: Sequence[str]
) -> str:
    """Return a benchmark's ``RESULTS.md`` section: table, method text, target checks."""
    return "\n".join([markdown_table(columns, rows), "", text, "", *[f"- {line}" for line in verdict]])


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Return a Markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(["---"] + ["---:"] * (len(columns) - 1)) + "|"]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """Describe where the numbers were measured."""
    import importlib.metadata as md

    versions = {}
    for dist in ("apache-airflow", "apache-airflow-providers-http", "aiohttp", "requests", "uvicorn"):
        with contextlib.suppress(md.PackageNotFoundError):
            versions[dist] = md.version(dist)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        # Shared CI-like hosts: a busy neighbour shows here, and in the numbers.
        "load_average_1m": os.getloadavg()[0],
        "versions": versions,
    }


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/<name>.json`` (with the date and machine) and return its path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    document = {
        "benchmark": name,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        **payload,
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(f"results: {path.relative_to(ROOT)}")
    return path


def read_results(name: str) -> dict[str, Any] | None:
    """Return the JSON results of benchmark ``name``, ``None`` when it has not run."""
    path = RESULTS_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None
