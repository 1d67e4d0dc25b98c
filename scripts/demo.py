"""
Run the example DAGs against a local SmartlyQ emulator and print what happened.

``make demo`` runs this inside ``.venv``. Steps:

1. start ``python -m airflow_provider_smartlyq.emulator --port 0 --seed demo
   --auto-approve-after 3`` (the emulator plays the user who approves connect links);
2. create a throwaway ``AIRFLOW_HOME`` and run ``airflow db migrate`` in it;
3. run ``airflow dags test <dag_id>`` for each DAG in :data:`DEMO_DAGS` whose file exists,
   with ``AIRFLOW_CONN_SMARTLYQ_DEFAULT`` pointing at the emulator;
4. print the emulator's accounts and their health (fetched with ``SmartlyQHook``) and a table
   of the DAG runs; stop the emulator and delete the temporary home, also on Ctrl-C.

Exits non-zero when a DAG run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_DAGS = REPO / "example_dags"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))

#: The example DAGs the demo runs, in order; each lives in ``example_dags/<dag_id>.py``.
DEMO_DAGS: tuple[str, ...] = (
    "smartlyq_accounts_overview",
    "smartlyq_onboard_account",
    "smartlyq_gate_publishing",
)
#: Seconds after which the emulator approves a pending connect link by itself.
AUTO_APPROVE_AFTER = 3
READY_LINE = re.compile(r"listening on (?P<url>https?://\S+)")
EXPIRING_DAYS = 7  # SmartlyQ counts a token as expiring within 7 days

# Piped output (CI logs) would default to 80 columns and squeeze the tables.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 110)


@dataclass
class DagRun:
    """Outcome of one ``airflow dags test``."""

    dag_id: str
    result: str  # "success", "failed" or "skipped"
    seconds: float = 0.0
    note: str = ""


class Emulator:
    """The emulator CLI as a subprocess; its output goes to a log file."""

    def __init__(self, api_key: str, log_path: Path) -> None:
        self.api_key = api_key
        self.log_path = log_path
        self.process: subprocess.Popen[str] | None = None
        self.log: IO[str] | None = None
        self.url = ""

    def start(self, timeout: float = 30.0) -> str:
        """Start the emulator on a free port; return its root URL once it listens."""
        command = [
            sys.executable,
            *("-m", "airflow_provider_smartlyq.emulator", "--port", "0", "--seed", "demo"),
            *("--auto-approve-after", str(AUTO_APPROVE_AFTER)),
        ]
        env = {**os.environ, "SMARTLYQ_EMULATOR_API_KEY": self.api_key}  # keeps the key off `ps`
        self.log = log = self.log_path.open("w")
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=REPO
        )
        lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        threading.Thread(target=_pump, args=(self.process.stdout, log, lines), daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            match = READY_LINE.search(line)
            if match:
                self.url = match.group("url")
                return self.url
        raise RuntimeError(f"the emulator did not start; its log:\n{tail(self.log_path)}")

    def stop(self) -> None:
        """Stop the emulator (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log is not None:
            self.log.close()


def _pump(stream: IO[str], log: IO[str], lines: queue.Queue[str]) -> None:
    """Copy the emulator's stdout to its log (so the pipe never fills) and to ``lines``."""
    for line in stream:
        log.write(line)
        log.flush()
        lines.put(line)


def tail(path: Path, count: int = 60) -> str:
    """Return the last ``count`` lines of a text file (or a note that it is missing)."""
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-count:])


def airflow_env(home: Path, connection: str) -> dict[str, str]:
    """Return a clean environment for ``airflow`` subprocesses: our home, DAGs and connection."""
    # Drop the caller's Airflow settings and connections so the demo behaves the same everywhere.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(EXAMPLE_DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW_CONN_SMARTLYQ_DEFAULT=connection,
        PYTHONWARNINGS="ignore",
    )
    return env


def run_airflow(args: list[str], env: dict[str, str], log_path: Path, timeout: float) -> int:
    """Run the ``airflow`` CLI with its output in ``log_path``; return the exit code."""
    with log_path.open("w") as log:
        try:
            return subprocess.run(
                [AIRFLOW, *args], env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False
            ).returncode
        except subprocess.TimeoutExpired:
            log.write(f"\n[demo] timed out after {timeout:.0f}s\n")
            return 124


def run_dags(env: dict[str, str], logs: Path, dag_ids: tuple[str, ...]) -> list[DagRun]:
    """Run each demo DAG with ``airflow dags test``; skip those whose file does not exist yet."""
    runs: list[DagRun] = []
    for dag_id in dag_ids:
        if not (EXAMPLE_DAGS / f"{dag_id}.py").exists():
            console.print(f"[dim]- {dag_id}: example_dags/{dag_id}.py does not exist yet, skipped[/]")
            runs.append(DagRun(dag_id, "skipped", note="no DAG file yet"))
            continue
        log_path = logs / f"{dag_id}.log"
        started = time.monotonic()
        with console.status(f"airflow dags test {dag_id}"):
            code = run_airflow(["dags", "test", dag_id], env, log_path, timeout=600)
        seconds = time.monotonic() - started
        if code == 0:
            console.print(f"[green]✓[/] {dag_id} succeeded in {seconds:.1f}s")
            runs.append(DagRun(dag_id, "success", seconds))
        else:
            console.print(f"[red]✗ {dag_id} failed (exit {code}); last lines of its output:[/]")
            console.print(tail(log_path), markup=False)
            runs.append(DagRun(dag_id, "failed", seconds, note=f"exit {code}"))
    return runs


def health_label(item: dict[str, Any]) -> str:
    """Return a coloured health verdict for one bulk-health item."""
    days = item.get("validity_days")
    if item.get("token_expired") or item.get("status") != "connected":
        return "[red]needs reconnect[/]"
    if item.get("paused"):
        return "[dim]paused[/]"
    if isinstance(days, (int, float)) and days < EXPIRING_DAYS:
        return "[yellow]expiring soon[/]"
    return "[green]healthy[/]"


def accounts_table() -> Table:
    """Fetch the accounts and their bulk health with ``SmartlyQHook`` and tabulate them."""
    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

    with SmartlyQHook() as hook:
        accounts = hook.list_accounts()
        health = hook.get_accounts_health()
    by_id = {item["id"]: item for item in health.get("accounts", [])}
    table = Table(
        title="SmartlyQ accounts on the emulator (via SmartlyQHook)",
        caption=(
            f"bulk health: {health.get('healthy')} healthy, {health.get('expiring')} expiring, "
            f"{health.get('expired')} expired, {health.get('paused')} paused"
        ),
    )
    table.add_column("ID", justify="right")
    table.add_column("Platform")
    table.add_column("Name", no_wrap=True)
    table.add_column("Status")
    table.add_column("Days left", justify="right")
    table.add_column("Paused", justify="center")
    table.add_column("Health", no_wrap=True)
    for account in accounts:
        item = by_id.get(account["id"], {})
        paused = item.get("paused", account.get("paused"))
        table.add_row(
            str(account["id"]),
            str(account.get("platform", "")),
            str(account.get("name", "")),
            str(item.get("status", account.get("status", "?"))),
            str(item.get("validity_days", "?")),
            "yes" if paused else "no",
            health_label({**item, "paused": paused}) if item else "[dim]unknown[/]",
        )
    return table


def runs_table(runs: list[DagRun]) -> Table:
    """Tabulate the DAG runs."""
    table = Table(title="DAG runs (airflow dags test)")
    table.add_column("DAG id")
    table.add_column("Result")
    table.add_column("Duration", justify="right")
    table.add_column("Note")
    colours = {"success": "green", "failed": "red", "skipped": "dim"}
    for run in runs:
        duration = f"{run.seconds:.1f}s" if run.result != "skipped" else "-"
        table.add_row(run.dag_id, f"[{colours[run.result]}]{run.result}[/]", duration, run.note)
    return table


def api_traffic(url: str) -> str:
    """Summarise the emulator's request and write logs (what the DAGs asked of SmartlyQ)."""
    from airflow_provider_smartlyq.testing.emulator import EmulatorClient

    client = EmulatorClient(url)
    try:
        requests, writes = client.requests(), client.writes()
    finally:
        client.close()
    return f"The DAGs sent {len(requests)} API requests to the emulator, {len(writes)} of them changed state."


def demo(args: argparse.Namespace) -> int:
    """Run the demo; return the exit code."""
    home = Path(tempfile.mkdtemp(prefix="smartlyq-demo-airflow-home-"))
    logs = home / "demo-logs"
    logs.mkdir()
    # A fresh sandbox-style key per run: the emulator accepts only it.
    emulator = Emulator(f"sqk_test_demo_{secrets.token_hex(8)}", logs / "emulator.log")
    try:
        url = emulator.start()
        console.print(f"[bold]SmartlyQ emulator[/] listening on {url} (demo seed)")
        connection = json.dumps({"conn_type": "smartlyq", "host": url, "password": emulator.api_key})
        env = airflow_env(home, connection)
        # This process uses the same settings (the hook below), set before anything imports Airflow.
        os.environ.clear()
        os.environ.update(env)
        console.print(f"AIRFLOW_HOME={home} (temporary)")
        console.print(f"AIRFLOW_CONN_SMARTLYQ_DEFAULT={connection.replace(emulator.api_key, '***')}")

        started = time.monotonic()
        with console.status("airflow db migrate"):
            code = run_airflow(["db", "migrate"], env, logs / "db-migrate.log", timeout=600)
        if code:
            console.print("[red]airflow db migrate failed:[/]")
            console.print(tail(logs / "db-migrate.log"), markup=False)
            return 1
        console.print(f"[green]✓[/] airflow db migrate in {time.monotonic() - started:.1f}s")

        runs = run_dags(env, logs, tuple(args.dag) or DEMO_DAGS)
        console.print()
        try:
            console.print(accounts_table())
            traffic = api_traffic(url)
        except Exception as exc:  # e.g. the emulator died: still show the runs, then fail
            reason = f"{type(exc).__name__}: {exc}"
            console.print(f"Could not read the emulator's accounts: {reason}", markup=False)
            console.print(f"Emulator log:\n{tail(logs / 'emulator.log', 20)}", markup=False)
            console.print(runs_table(runs))
            return 1
        console.print(runs_table(runs))
        console.print(traffic)
        failed = [run.dag_id for run in runs if run.result == "failed"]
        if failed:
            console.print(f"[red bold]Failed DAGs: {', '.join(failed)}[/]")
            return 1
        if not any(run.result == "success" for run in runs):
            console.print("[red bold]No DAG ran.[/]")
            return 1
        return 0
    finally:
        emulator.stop()
        if args.keep_home:
            console.print(f"Kept {home} (logs in {logs})")
        else:
            shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the demo and turn Ctrl-C/SIGTERM into a clean exit."""
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dag",
        action="append",
        default=[],
        metavar="DAG_ID",
        help=f"run only this DAG (default: {DEMO_DAGS})",
    )
    parser.add_argument("--keep-home", action="store_true", help="keep the temporary AIRFLOW_HOME and logs")
    args = parser.parse_args(argv)

    def on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # run the same clean-up as Ctrl-C

    signal.signal(signal.SIGTERM, on_sigterm)
    # Shells start background jobs with SIGINT ignored; make Ctrl-C/SIGINT clean up regardless.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return demo(args)
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted; emulator stopped and temporary home removed.[/]")
        return 130
    except RuntimeError as exc:
        console.print(str(exc), style="red", markup=False)
        return 1


if __name__ == "__main__":
    sys.exit(main())
