"""
Run real Airflow components (api-server, scheduler, dag-processor, triggerer) for end-to-end tests.

The ``airflow_stack`` fixture (one per test session, started only when a test asks for it) gives
a :class:`AirflowStack`: a throwaway ``AIRFLOW_HOME`` with a migrated sqlite database, the
``LocalExecutor`` with parallelism 4, every component a subprocess in its own process group with
its output in ``<home>/components/<name>.log``, and ``smartlyq_default`` pointing at an emulator
that never approves connects by itself (tests play the user through ``stack.emulator.client``).

sqlite with the ``LocalExecutor``: Airflow 3 accepts it (it is what ``airflow standalone`` runs);
the one writer at a time is enough for a handful of tasks. The same class runs other set-ups:
``test_distributed_stack.py`` gives it PostgreSQL, the ``CeleryExecutor`` with two workers and
two triggerers (its ``database_url``, ``components`` and ``env`` arguments).

Tests use the function-scoped ``stack`` fixture: the session's stack with the emulator reset to
the demo seed and any component a previous test killed started again::

    def test_something(stack):
        stack.unpause("my_dag")
        run_id = stack.trigger("my_dag", conf={"platform": "instagram"})
        ti = stack.wait_for_deferred("my_dag", run_id, "wait")
        stack.emulator.client.approve_connect(stack.xcoms("my_dag", run_id)[("wait", "state_token")])
        assert stack.wait_for_run("my_dag", run_id) == "success"
        assert "deferred" in stack.state_history("my_dag", run_id, "wait")

On failure the fixture prints every component log and task/trigger log (``stack.logs()``);
the home stays under pytest's temporary directory for a closer look.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from ci_support import skip_or_fail
from stack_services import ServiceUnavailable, free_port, run_postgres, run_redis

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_smartlyq.testing.emulator import RunningEmulator

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO / "example_dags"
AIRFLOW_BIN = str(Path(sys.executable).with_name("airflow"))

#: A key nobody would type by accident: secret-hygiene checks search every artefact for it.
STACK_API_KEY = "sqk_live_E2E" + "Zq7vXw3Kp9Rm2Tn8Lb4Hs6Yd"

#: Example DAG files copied into the stack's DAG folder (fewer files, faster parsing).
STACK_DAG_FILES = ("smartlyq_onboard_account.py",)

#: The distributed stack's DAGs: onboarding, gate -> validate -> publish, the nightly brand
#: pause and the event-driven watcher.
DISTRIBUTED_DAG_FILES = (
    "smartlyq_onboard_account.py",
    "smartlyq_gate_publishing.py",
    "smartlyq_pause_brand_nightly.py",
    "smartlyq_reconnect_on_expiry.py",
)
#: The emulator's request budget for the distributed stack: SmartlyQ's default rate (60 per
#: minute) in short windows, so that every process together must pace to stay within it.
DISTRIBUTED_RATE_LIMIT = 10
DISTRIBUTED_RATE_WINDOW = 10.0
#: The example watcher's poll interval there (its default is 300 s).
DISTRIBUTED_HEALTH_POLL_SECONDS = 5

#: ``{name: airflow CLI arguments}`` of the default stack's components. A stack may run several
#: of one kind (``triggerer-1``, ``triggerer-2``): what a name starts with says what it is.
COMPONENTS: dict[str, tuple[str, ...]] = {
    "api-server": ("api-server",),
    "scheduler": ("scheduler", "--skip-serve-logs"),
    "dag-processor": ("dag-processor",),
    "triggerer": ("triggerer", "--skip-serve-logs"),
}

TERMINAL_RUN_STATES = frozenset({"success", "failed"})


def stack_env(
    home: Path, dags_folder: Path, api_port: int, connection_json: str, database_url: str
) -> dict[str, str]:
    """Return the environment every component and CLI call of one stack shares."""
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=database_url,
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(dags_folder),
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        # Connections and variables in the DB are encrypted with it (trigger kwargs may be).
        AIRFLOW__CORE__FERNET_KEY=Fernet.generate_key().decode(),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(api_port),
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{api_port}",
        # The scheduler signs task tokens and the api-server checks them: one shared secret.
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(32),
        AIRFLOW__API__SECRET_KEY=secrets.token_hex(16),
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="1",
        AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL="600",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
        AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC="2",
        AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME="0.5",
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
        # A new triggerer adopts a dead one's triggers once its heartbeat is this old.
        AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="2",
        AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD="8",
        # Nothing binds Airflow's fixed default ports (several stacks may share the machine).
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT=str(free_port()),
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        AIRFLOW_CONN_SMARTLYQ_DEFAULT=connection_json,
        PYTHONWARNINGS="ignore::DeprecationWarning",
        PYTHONUNBUFFERED="1",
    )
    return env


def db_time(value: str | dt.datetime | None) -> float:
    """Return a timestamp column (sqlite text or datetime; UTC, naive or not) as unix seconds (0 for NULL)."""
    if not value:
        return 0.0
    parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()


class MetadataDB:
    """
    Read-only access to a stack's metadata database, sqlite or PostgreSQL alike.

    Queries are written with ``?`` placeholders (as before, for sqlite) and bound by name, so
    the same SQL runs on both. Rows come back as plain dicts.
    """

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        self.url = url
        if url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///")
            # Read-only and a fresh connection per query, as the components write meanwhile.
            self.engine = create_engine(
                f"sqlite:///file:{path}?mode=ro&uri=true", poolclass=NullPool, connect_args={"timeout": 30}
            )
        else:
            self.engine = create_engine(url, pool_size=2, max_overflow=2, pool_pre_ping=True)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Run one read-only query; return its rows as dicts."""
        from sqlalchemy import text

        names = iter(range(len(params)))
        bound = re.sub(r"\?", lambda _: f":p{next(names)}", sql)
        with self.engine.connect() as conn:
            result = conn.execute(text(bound), {f"p{i}": value for i, value in enumerate(params)})
            return [dict(row._mapping) for row in result]

    def close(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


class StateRecorder:
    """
    Record every task instance's state changes by polling the database on a thread.

    Airflow keeps only the current state (``task_instance_history`` holds earlier *tries*, and a
    deferral is not a new try), so this is how a test proves a task went through ``deferred``.
    States shorter than the poll interval may be missed; ``deferred`` lasts until the test acts.
    """

    def __init__(self, db: MetadataDB, interval: float = 0.3) -> None:
        self.db = db
        self.interval = interval
        self.history: dict[tuple[str, str, str], list[str | None]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="airflow-state-recorder", daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread.is_alive():  # never started when the stack failed before its components
            self._thread.join(timeout=5)

    def _run(self) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        while not self._stop.wait(self.interval):
            try:
                rows = self.db.query("SELECT dag_id, run_id, task_id, state FROM task_instance")
            except SQLAlchemyError:
                continue  # a busy (or not yet migrated) database: the next poll will see the state
            for row in rows:
                state = row["state"]
                states = self.history.setdefault((row["dag_id"], row["run_id"], row["task_id"]), [])
                if not states or states[-1] != state:
                    states.append(state)


class AirflowStack:
    """
    Real Airflow components on a throwaway home; helpers to drive and inspect DAG runs.

    :param home: Empty directory used as ``AIRFLOW_HOME``.
    :param emulator: The SmartlyQ emulator ``smartlyq_default`` points at.
    :param dag_files: DAG files copied into the stack's own DAG folder.
    :param components: ``{name: airflow CLI arguments}`` of the components (default: :data:`COMPONENTS`).
    :param database_url: The metadata database (default: sqlite in ``home``).
    :param env: Settings on top of the defaults (executor, broker...), shared by every component.
    """

    def __init__(
        self,
        home: Path,
        emulator: RunningEmulator,
        dag_files: list[Path],
        *,
        components: dict[str, tuple[str, ...]] | None = None,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.home = home
        self.emulator = emulator
        self.dags_folder = home / "dags"
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        for path in dag_files:
            shutil.copy(path, self.dags_folder / path.name)
        self.component_logs = home / "components"
        self.component_logs.mkdir(exist_ok=True)
        self.components = dict(components or COMPONENTS)
        self.database_url = database_url or f"sqlite:///{home / 'airflow.db'}"
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.env = stack_env(
            home, self.dags_folder, self.api_port, emulator.connection_json(), self.database_url
        )
        self.env.update(env or {})
        #: The current process of each component (a killed one stays until restarted).
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._every_proc: list[subprocess.Popen[bytes]] = []
        #: Components killed on purpose (not a failure until restarted).
        self.stopped: set[str] = set()
        self._starts: dict[str, int] = {}
        self.startup_seconds: float | None = None
        self.db = MetadataDB(self.database_url)
        self.recorder = StateRecorder(self.db)
        #: Seconds from the start of :meth:`start` (``began``, monotonic) to each milestone.
        self.timings: dict[str, float] = {}
        self.began = time.monotonic()
        #: Servers the stack runs on, by name (PostgreSQL, Redis...), for tests to inspect.
        self.services: dict[str, Any] = {}

    # -- processes ------------------------------------------------------------------------
    def airflow(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run one ``airflow`` CLI command in the stack's environment; return its result."""
        result = subprocess.run(
            [AIRFLOW_BIN, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"airflow {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
            )
        return result

    def start_component(self, name: str) -> subprocess.Popen[bytes]:
        """Start one component in its own process group; output goes to ``components/<name>.log``."""
        if name in self.procs and self.procs[name].poll() is None:
            raise RuntimeError(f"{name} is already running (pid {self.procs[name].pid})")
        self._starts[name] = self._starts.get(name, 0) + 1
        # Append: a restarted component keeps the previous instance's output for diagnostics.
        with open(self.component_logs / f"{name}.log", "ab") as out:
            out.write(
                f"\n===== start #{self._starts[name]} at {dt.datetime.now().isoformat()} =====\n".encode()
            )
            out.flush()
            proc = subprocess.Popen(
                [AIRFLOW_BIN, *self.components[name]],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.procs[name] = proc
        self._every_proc.append(proc)
        self.stopped.discard(name)
        return proc

    def start(self, timeout: float = 180, names: list[str] | None = None) -> None:
        """
        Migrate the database, start components and wait until they report healthy.

        :param names: The components to start now (default: all); the health check needs a
            scheduler, a dag-processor and at least one triggerer among them.
        """
        self.began = began = time.monotonic()
        self.airflow("db", "migrate", timeout=600)
        self.timings["db migrate"] = time.monotonic() - began
        self.recorder.start()
        for name in names or self.components:
            self.start_component(name)
        self.wait_for(self.health, timeout, "the api-server to answer")
        self.timings["api-server up"] = time.monotonic() - began
        self.wait_healthy(("scheduler", "triggerer", "dag_processor"), timeout=timeout)
        self.startup_seconds = self.timings["all healthy"] = time.monotonic() - began

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to a component's process group (runner children included); wait for it to exit."""
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        self.stopped.add(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def kill_triggerer(self, name: str = "triggerer") -> None:
        """Kill a triggerer and its trigger runner with SIGKILL: no clean-up code runs."""
        self.kill(name, signal.SIGKILL)

    def start_triggerer(self, name: str = "triggerer") -> None:
        """Start a new triggerer process (a new job id) and wait until it heartbeats."""
        started = time.time()
        self.start_component(name)
        self.wait_for(
            lambda: self.latest_job_heartbeat("TriggererJob", since=started),
            timeout=90,
            what="the new triggerer's first heartbeat",
        )

    def stop(self) -> None:
        """Stop every component: SIGTERM to each process group, SIGKILL whatever is left."""
        self.recorder.stop()
        self.db.close()
        for proc in self._every_proc:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5  # tests need no graceful shutdown; SIGKILL follows
        for proc in self._every_proc:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self._every_proc:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # Children (task runners...) may outlive their group's leader. Once the leader is reaped
        # its pid may be reused, so kill only group members proven to be this stack's processes.
        for pid in self._leftover_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _leftover_pids(self) -> list[int]:
        """Return live processes in this stack's process groups whose environment has its home."""
        groups = {proc.pid for proc in self._every_proc}
        marker = f"AIRFLOW_HOME={self.home}\0".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                # Field 5 of /proc/<pid>/stat is the process group; the name before it may hold spaces.
                pgrp = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2])
                if pgrp in groups and marker in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue  # exited meanwhile, or not ours to read
        return found

    def is_running(self, name: str) -> bool:
        """Return whether a component's current process is alive."""
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def assert_running(self) -> None:
        """Fail with the logs when a component exited that nobody stopped on purpose."""
        dead = {
            n: p.returncode for n, p in self.procs.items() if p.poll() is not None and n not in self.stopped
        }
        if dead:
            raise AssertionError(f"components exited: {dead}\n{self.logs()}")

    # -- waiting --------------------------------------------------------------------------
    def wait_for(self, predicate: Any, timeout: float, what: str, interval: float = 0.5) -> Any:
        """Poll ``predicate`` until it returns something truthy; fail with the logs on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{self.logs()}")
            self.assert_running()
            time.sleep(interval)

    def health(self) -> dict[str, Any] | None:
        """Return the api-server's ``/api/v2/monitor/health`` answer, or None while it is down."""
        try:
            response = requests.get(f"{self.api_url}/api/v2/monitor/health", timeout=5)
        except requests.RequestException:
            return None
        return response.json() if response.ok else None

    def wait_healthy(self, components: tuple[str, ...], timeout: float = 180) -> dict[str, Any]:
        """Wait until the api-server answers and each component reports ``healthy``."""

        def healthy() -> dict[str, Any] | None:
            answer = self.health()
            if not answer:
                return None
            ok = all((answer.get(c) or {}).get("status") == "healthy" for c in components)
            return answer if ok else None

        result: dict[str, Any] = self.wait_for(healthy, timeout, f"healthy {', '.join(components)}")
        return result

    # -- database (read-only) -------------------------------------------------------------
    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Run a read-only query (``?`` placeholders) on the stack's metadata database."""
        return self.db.query(sql, params)

    def latest_job_heartbeat(self, job_type: str, since: float = 0.0) -> str | None:
        """Return the newest running ``job_type``'s heartbeat when that job started after ``since``."""
        rows = self.query(
            "SELECT start_date, latest_heartbeat FROM job WHERE job_type = ? AND state = 'running' "
            "ORDER BY id DESC LIMIT 1",
            (job_type,),
        )
        if not rows:
            return None
        started = db_time(rows[0]["start_date"])
        return rows[0]["latest_heartbeat"] if started >= since - 1 else None

    db_time = staticmethod(db_time)

    def dag_is_parsed(self, dag_id: str) -> bool:
        """Return whether the dag-processor has serialized ``dag_id``."""
        return bool(self.query("SELECT 1 FROM serialized_dag WHERE dag_id = ?", (dag_id,)))

    def import_errors(self) -> list[str]:
        """Return the dag-processor's import errors (file and traceback)."""
        rows = self.query("SELECT filename, stacktrace FROM import_error")
        return [f"{r['filename']}:\n{r['stacktrace']}" for r in rows]

    def wait_for_dag(self, dag_id: str, timeout: float = 90) -> None:
        """Wait until ``dag_id`` is parsed; fail at once on an import error of the stack's DAGs."""

        def parsed() -> bool:
            errors = self.import_errors()
            if errors:
                raise AssertionError("DAG import errors:\n" + "\n".join(errors))
            return self.dag_is_parsed(dag_id)

        self.wait_for(parsed, timeout, f"DAG {dag_id} to be parsed")

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        """Return a DAG run's state."""
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", (dag_id, run_id))
        return rows[0]["state"] if rows else None

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """Return ``{task_id: state}`` for a DAG run's task instances."""
        rows = self.query(
            "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?", (dag_id, run_id)
        )
        return {r["task_id"]: r["state"] for r in rows}

    def state_history(self, dag_id: str, run_id: str, task_id: str) -> list[str | None]:
        """Return the states a task instance was seen in, oldest first (see :class:`StateRecorder`)."""
        return list(self.recorder.history.get((dag_id, run_id, task_id), []))

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        """Return a task instance's row (state, try_number, trigger_id, next_method...)."""
        rows = self.query(
            "SELECT * FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = -1",
            (dag_id, run_id, task_id),
        )
        assert rows, f"no task instance {dag_id}.{task_id} in {run_id}"
        return dict(rows[0])

    def trigger_row(self, trigger_id: int) -> dict[str, Any]:
        """
        Return a ``trigger`` row with its kwargs decrypted.

        ``kwargs_json`` is the decrypted text as stored (what secret checks search), ``kwargs``
        the deserialized dict (what the triggerer rebuilds the trigger from).
        """
        from airflow.sdk.serde import deserialize
        from cryptography.fernet import Fernet

        rows = self.query("SELECT * FROM trigger WHERE id = ?", (trigger_id,))
        assert rows, f"no trigger row {trigger_id}"
        row = dict(rows[0])
        stored: str = row["kwargs"]  # the ORM's ``encrypted_kwargs``
        # Airflow 3.3's execution API stores the worker's kwargs as plain JSON (only a client
        # that sends them as a string gets them kept encrypted): accept both forms.
        if stored.startswith("{"):
            row["kwargs_json"] = stored
        else:
            fernet = Fernet(self.env["AIRFLOW__CORE__FERNET_KEY"].encode())
            row["kwargs_json"] = fernet.decrypt(stored.encode()).decode()
        row["kwargs_encrypted"] = not stored.startswith("{")
        row["kwargs"] = deserialize(json.loads(row["kwargs_json"]))
        return row

    def xcoms(self, dag_id: str, run_id: str) -> dict[tuple[str, str], Any]:
        """Return ``{(task_id, key): value}`` for a DAG run (values JSON-decoded)."""
        rows = self.query(
            "SELECT task_id, key, value FROM xcom WHERE dag_id = ? AND run_id = ?", (dag_id, run_id)
        )
        out: dict[tuple[str, str], Any] = {}
        for r in rows:
            raw = r["value"]
            try:
                out[(r["task_id"], r["key"])] = json.loads(raw) if raw is not None else None
            except (TypeError, ValueError):
                out[(r["task_id"], r["key"])] = raw
        return out

    # -- DAG runs (REST API: the all-admins auth manager needs no token) -------------------
    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the public REST API (``/api/v2`` + ``path``); return the JSON answer."""
        response = requests.request(method, f"{self.api_url}/api/v2{path}", timeout=30, **kwargs)
        if not response.ok:
            raise AssertionError(f"{method} {path} answered {response.status_code}: {response.text[:2000]}")
        return response.json() if response.content else None

    def unpause(self, dag_id: str, timeout: float = 90) -> None:
        """Wait for ``dag_id`` to be parsed, then unpause it."""
        self.wait_for_dag(dag_id, timeout=timeout)
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Trigger a run of ``dag_id`` now; return its run id."""
        run_id = f"e2e__{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:6]}"
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}}
        answer = self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)
        return str(answer["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 120) -> str:
        """Wait until a DAG run is ``success`` or ``failed``; return that state."""
        state: str = self.wait_for(
            lambda: s if (s := self.run_state(dag_id, run_id)) in TERMINAL_RUN_STATES else None,
            timeout,
            f"run {dag_id}/{run_id} to finish (tasks: {self.task_states(dag_id, run_id)})",
        )
        return state

    def wait_for_task_state(
        self, dag_id: str, run_id: str, task_id: str, state: str, timeout: float = 120
    ) -> dict[str, Any]:
        """Wait until a task instance is in ``state``; return its row. Fails early if the run ends."""

        def reached() -> dict[str, Any] | None:
            ti = (
                self.task_instance(dag_id, run_id, task_id)
                if task_id in self.task_states(dag_id, run_id)
                else None
            )
            if ti and ti["state"] == state:
                return ti
            if self.run_state(dag_id, run_id) in TERMINAL_RUN_STATES:
                raise AssertionError(
                    f"run {run_id} ended ({self.task_states(dag_id, run_id)}) before "
                    f"{task_id} was {state}\n{self.logs()}"
                )
            return None

        ti: dict[str, Any] = self.wait_for(reached, timeout, f"{dag_id}.{task_id} to be {state}")
        return ti

    def wait_for_deferred(
        self, dag_id: str, run_id: str, task_id: str, timeout: float = 120
    ) -> dict[str, Any]:
        """
        Wait until a task is deferred AND the scheduler has processed its worker's exit; return the row.

        Only then may the test let the trigger fire. Airflow 3.3.2 fails a task whose trigger
        fires before the scheduler drains the executor's success event of the deferring try
        when the resumed try is already ``queued`` or ``running`` ("finished with state success,
        but the task instance's state attribute is queued"; apache/airflow#67287, #72716; only
        the ``scheduled`` case is guarded). A user approving within seconds could hit it too.
        """
        ti = self.wait_for_task_state(dag_id, run_id, task_id, "deferred", timeout=timeout)
        finished = f"TaskInstance Finished: dag_id={dag_id}, task_id={task_id}, run_id={run_id}, "
        scheduler_log = self.component_logs / "scheduler.log"

        def handed_off() -> bool:
            lines = scheduler_log.read_text(errors="replace").splitlines()
            return any(finished in line and ", state=deferred," in line for line in lines)

        self.wait_for(handed_off, timeout, f"the scheduler to see {task_id}'s worker exit after deferring")
        return ti

    # -- logs -----------------------------------------------------------------------------
    def task_log_files(self, dag_id: str | None = None, run_id: str | None = None) -> list[Path]:
        """Return task and trigger log files, optionally of one DAG (and run)."""
        root = self.home / "logs"
        if dag_id:
            root = root / f"dag_id={dag_id}"
            if run_id:
                root = root / f"run_id={run_id}"
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []

    def trigger_log_files(self, dag_id: str, run_id: str) -> list[Path]:
        """Return the trigger log files of a run (``<attempt>.log.trigger.<job id>.log``)."""
        return [p for p in self.task_log_files(dag_id, run_id) if ".trigger." in p.name]

    def read(self, paths: list[Path]) -> str:
        """Return the concatenated text of ``paths``."""
        return "\n".join(p.read_text(errors="replace") for p in paths)

    def logs(self, tail: int = 200) -> str:
        """Return the last ``tail`` lines of every component log and every task/trigger log."""
        parts = []
        for path in sorted(self.component_logs.glob("*.log")) + self.task_log_files():
            lines = path.read_text(errors="replace").splitlines()
            parts.append(f"----- {path.relative_to(self.home)} (last {tail} lines) -----")
            parts.extend(lines[-tail:])
        return "\n".join(parts)

    def files_containing(self, needle: str, *more_roots: Path) -> list[Path]:
        """
        Return every file under ``AIRFLOW_HOME`` whose bytes contain ``needle`` (a sqlite database included).

        :param more_roots: Further directories to search, such as a PostgreSQL data directory.
        """
        raw = needle.encode()
        files = [p for root in (self.home, *more_roots) for p in sorted(root.rglob("*")) if p.is_file()]
        return [p for p in files if raw in p.read_bytes()]

    # -- assets and runs --------------------------------------------------------------------
    def asset_events(self, asset_name: str) -> list[dict[str, Any]]:
        """Return an asset's events, oldest first, ``extra`` decoded (sqlite: text, PostgreSQL: JSON)."""
        rows = self.query(
            "SELECT e.id, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE a.name = ? ORDER BY e.id",
            (asset_name,),
        )
        return [
            {
                "id": r["id"],
                "extra": r["extra"] if isinstance(r["extra"], dict) else json.loads(r["extra"] or "{}"),
            }
            for r in rows
        ]

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Return a DAG's runs (id, run_id, state, run_type), oldest first."""
        return self.query(
            "SELECT id, run_id, state, run_type FROM dag_run WHERE dag_id = ? ORDER BY id", (dag_id,)
        )


@pytest.fixture(scope="session")
def stack_emulator() -> Iterator[RunningEmulator]:
    """Start the emulator the stack talks to: no auto-approve, a distinctive API key."""
    from airflow_provider_smartlyq.testing.emulator import run_emulator

    with run_emulator(seed="demo", api_key=STACK_API_KEY) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def airflow_stack(
    tmp_path_factory: pytest.TempPathFactory, stack_emulator: RunningEmulator
) -> Iterator[AirflowStack]:
    """Start api-server, scheduler, dag-processor and triggerer once per session; stop them after."""
    dag_files = [EXAMPLE_DAGS / name for name in STACK_DAG_FILES if (EXAMPLE_DAGS / name).exists()]
    stack = AirflowStack(tmp_path_factory.mktemp("airflow-stack"), stack_emulator, dag_files)
    try:
        stack.start()
        milestones = ", ".join(f"{k} {v:.1f}s" for k, v in stack.timings.items())
        print(f"\nairflow stack up at {stack.home} (api {stack.api_url}): {milestones}")
        yield stack
    finally:
        stack.stop()


def celery_components(home: Path, workers: int = 2, triggerers: int = 2) -> dict[str, tuple[str, ...]]:
    """
    Return the components of a CeleryExecutor stack: api-server, scheduler, dag-processor,
    ``workers`` Celery workers and ``triggerers`` triggerers (``worker-1``, ``triggerer-1``...).

    Workers on one machine need their own Celery node name and pid file, and skip serving
    logs (one fixed port each otherwise; the api-server reads the log files from disk).
    """
    components = {name: COMPONENTS[name] for name in ("api-server", "scheduler", "dag-processor")}
    for n in range(1, workers + 1):
        components[f"worker-{n}"] = (
            "celery", "worker", "--celery-hostname", f"worker-{n}@%h", "--concurrency", "2",
            "--pid", str(home / f"worker-{n}.pid"), "--skip-serve-logs", "--without-gossip",
        )  # fmt: skip
    for n in range(1, triggerers + 1):
        components[f"triggerer-{n}"] = COMPONENTS["triggerer"]
    return components


@pytest.fixture(scope="module")
def distributed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    """
    Start PostgreSQL, Redis, an emulator with a request budget and a CeleryExecutor stack on them.

    Components: api-server, scheduler, dag-processor, ``worker-1`` and ``worker-2``,
    ``triggerer-1``; ``triggerer-2`` is left for the test to start (Airflow hands a new trigger
    to whichever live triggerer asks first, so starting the second one later is how a test
    knows which triggerer holds the waits). The scheduler creates scheduled and asset-triggered
    runs (``use_job_schedule``), and the example watcher polls every
    ``DISTRIBUTED_HEALTH_POLL_SECONDS``. ``stack.services`` holds the two servers.

    Skips with the reason when PostgreSQL or Redis cannot be had; under CI that is a failure.
    """
    from airflow_provider_smartlyq.testing.emulator import run_emulator

    home = tmp_path_factory.mktemp("distributed-stack")
    logs = home / "components"
    logs.mkdir()
    with contextlib.ExitStack() as running:
        try:
            postgres = running.enter_context(run_postgres(logs))
            redis = running.enter_context(run_redis(logs))
        except ServiceUnavailable as exc:
            skip_or_fail(f"the distributed stack needs PostgreSQL and Redis: {exc}")
        emulator = running.enter_context(
            run_emulator(
                seed="demo",
                api_key=STACK_API_KEY,
                rate_limit=DISTRIBUTED_RATE_LIMIT,
                rate_window=DISTRIBUTED_RATE_WINDOW,
            )
        )
        components = celery_components(home)
        stack = AirflowStack(
            home,
            emulator,
            [EXAMPLE_DAGS / name for name in DISTRIBUTED_DAG_FILES],
            components=components,
            database_url=postgres.url,
            env={
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__CELERY__BROKER_URL": redis.url,
                "AIRFLOW__CELERY__RESULT_BACKEND": postgres.celery_result_backend,
                "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True",
                # Airflow's default: a loaded machine can stall a triggerer's heartbeat for 10-20 s,
                # and the second triggerer must not take the waits from a live first one.
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "30",
                "SMARTLYQ_HEALTH_POLL_INTERVAL": str(DISTRIBUTED_HEALTH_POLL_SECONDS),
            },
        )
        stack.services = {"postgres": postgres, "redis": redis}
        running.callback(stack.stop)
        stack.start(names=[name for name in components if name != "triggerer-2"])
        for worker in ("worker-1", "worker-2"):
            stack.wait_for(
                lambda w=worker: (
                    f"{w}@" in (log := (stack.component_logs / f"{w}.log").read_text()) and " ready." in log
                ),
                timeout=120,
                what=f"Celery {worker} to be ready",
            )
        stack.timings["workers ready"] = time.monotonic() - stack.began
        milestones = ", ".join(f"{k} {v:.1f}s" for k, v in stack.timings.items())
        print(f"\ndistributed stack up at {stack.home} (api {stack.api_url}): {milestones}")
        yield stack


@pytest.fixture
def stack(airflow_stack: AirflowStack, request: pytest.FixtureRequest) -> Iterator[AirflowStack]:
    """Return the session's stack, emulator reset, every component running; print logs on failure."""
    airflow_stack.emulator.client.reset("demo")
    # A test that killed a component without restarting it must not break the next one.
    for name in sorted(airflow_stack.stopped):
        if name.startswith("triggerer"):
            airflow_stack.start_triggerer(name)
        else:
            airflow_stack.start_component(name)
    airflow_stack.assert_running()
    yield airflow_stack
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(airflow_stack.logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so fixtures can tell a failed test at teardown."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
