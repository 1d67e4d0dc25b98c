"""
Secret hygiene of the example DAGs: a distinctive API key appears in no artefact of a real run.

Each example DAG that runs under ``airflow dags test`` runs with the real CLI, in its own
``AIRFLOW_HOME`` (a copy of one migrated sqlite database, so the runs can go two at a time)
against its own emulator, all sharing one random key. A sixth run uses a second, unknown key,
so that SmartlyQ refuses it and the task fails: exception texts and tracebacks are searched too.
Then every file under each home, every row of every table of its database (XCom values,
rendered template fields, trigger kwargs decrypted with the Fernet key, ``dag_run.conf``, the
audit log...) and the captured stdout/stderr must hold neither key, nor a partial of it (the key
without its ``sqk_`` prefix, its random part alone).

``airflow dags test`` writes task logs to stdout (no log files under ``AIRFLOW_HOME``) and runs
triggers in-line, yet stores their rows. The same search over the triggerer's own log files
of a long-running stack is done by ``tests/integration/test_triggerer_restart.py``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import secrets
import shutil
import sqlite3
import subprocess
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from airflow_cli_support import AIRFLOW_BIN, airflow_cli_env

#: Random per session, so no file could hold it by coincidence or from an earlier run.
RANDOM = secrets.token_hex(12)
KEY = f"sqk_test_HYGIENE{RANDOM}"
WRONG_KEY = f"sqk_live_REFUSED{secrets.token_hex(12)}"
#: The key, what is left once a prefix is masked or cut, and the random parts alone.
NEEDLES = (KEY, KEY[4:], RANDOM, WRONG_KEY, WRONG_KEY[4:], WRONG_KEY[-24:])


@dataclass
class Run:
    """One ``airflow dags test`` run and where its artefacts are."""

    name: str
    dag_id: str
    conf: dict[str, Any] | None = None
    api_key: str = KEY
    expect_success: bool = True
    emulator_config: dict[str, Any] = field(default_factory=dict)
    home: Path = Path()
    fernet_key: str = ""
    returncode: int | None = None
    output: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)


RUNS = (
    Run("accounts_overview", "smartlyq_accounts_overview"),
    # The emulator plays the user: the connect link is approved 2 s after it is created.
    Run(
        "onboard_account",
        "smartlyq_onboard_account",
        conf={"platform": "instagram"},
        emulator_config={"auto_approve_after": 2},
    ),
    Run("gate_publishing", "smartlyq_gate_publishing"),
    Run("pause_brand_nightly", "smartlyq_pause_brand_nightly"),
    Run("reconnect_unhealthy", "smartlyq_reconnect_unhealthy"),
    # SmartlyQ refuses this key (401): the task fails, its traceback must not show the key.
    Run("refused_key", "smartlyq_accounts_overview", api_key=WRONG_KEY, expect_success=False),
)


def run_env(run: Run, emulator: Any) -> dict[str, str]:
    connection = json.dumps(
        {"conn_type": "smartlyq", "host": emulator.url, "password": run.api_key, "extra": {}}
    )
    return airflow_cli_env(
        run.home,
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{run.home / 'airflow.db'}",
        AIRFLOW__CORE__FERNET_KEY=run.fernet_key,
        AIRFLOW_CONN_SMARTLYQ_DEFAULT=connection,
        # DEBUG: the per-request lines (and urllib3's request lines) are searched too.
        AIRFLOW__LOGGING__LOGGING_LEVEL="DEBUG",
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Run]:
    """Migrate one database, then run every DAG in a copy of it, two at a time."""
    from cryptography.fernet import Fernet

    from airflow_provider_smartlyq.testing.emulator import run_emulator

    fernet_key = Fernet.generate_key().decode()
    template = tmp_path_factory.mktemp("hygiene-template")
    migrate_env = airflow_cli_env(
        template,
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{template / 'airflow.db'}",
        AIRFLOW__CORE__FERNET_KEY=fernet_key,
    )
    subprocess.run(
        [AIRFLOW_BIN, "db", "migrate"], env=migrate_env, check=True, capture_output=True, timeout=600
    )

    runs = [dataclasses.replace(run) for run in RUNS]  # fresh copies to fill in
    with contextlib.ExitStack() as stack:
        emulators = {}
        for run in runs:
            emulators[run.name] = stack.enter_context(run_emulator(api_key=KEY, **run.emulator_config))
            run.home = tmp_path_factory.mktemp(f"hygiene-{run.name}")
            shutil.copy(template / "airflow.db", run.home / "airflow.db")
            run.fernet_key = fernet_key

        def execute(run: Run) -> None:
            args = [AIRFLOW_BIN, "dags", "test", run.dag_id]
            if run.conf is not None:
                args += ["-c", json.dumps(run.conf)]
            env = run_env(run, emulators[run.name])
            result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
            run.returncode = result.returncode
            run.output = result.stdout + result.stderr
            run.requests = emulators[run.name].client.requests()

        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(execute, runs))
    return {run.name: run for run in runs}


# -- where to search ---------------------------------------------------------------------------


def files_containing(home: Path, needle: str) -> list[str]:
    """Return every file under ``home`` whose bytes contain ``needle`` (the database included)."""
    raw = needle.encode()
    return [
        str(p.relative_to(home)) for p in sorted(home.rglob("*")) if p.is_file() and raw in p.read_bytes()
    ]


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        with contextlib.suppress(zlib.error):
            value = zlib.decompress(value)  # compressed serialized DAGs
        return value.decode("utf-8", errors="replace")
    return str(value)


def database_texts(run: Run) -> dict[str, list[str]]:
    """
    Return every row of every table as text, ``{table: [row, ...]}``.

    Trigger kwargs are decrypted with the run's Fernet key when Airflow stored them encrypted
    (Airflow 3.3 keeps the kwargs a worker sends as plain JSON; both forms are handled).
    """
    from cryptography.fernet import Fernet

    fernet = Fernet(run.fernet_key.encode())
    with contextlib.closing(sqlite3.connect(run.home / "airflow.db")) as db:
        db.row_factory = sqlite3.Row
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        texts: dict[str, list[str]] = {}
        for table in tables:
            rows = []
            for row in db.execute(f'SELECT * FROM "{table}"'):  # names come from sqlite_master
                values = {key: _text(row[key]) for key in row.keys()}  # noqa: SIM118 - sqlite3.Row iterates values
                if table == "trigger" and not values["kwargs"].startswith("{"):
                    values["kwargs"] = fernet.decrypt(values["kwargs"].encode()).decode()
                rows.append(json.dumps(values))
            texts[table] = rows
    return texts


def airflow_own_mask_requests(line: str) -> bool:
    """
    Tell Airflow's own DEBUG line that shows a secret being registered with the masker.

    At DEBUG, Airflow's task supervisor logs every message a task sends it, and a ``MaskSecret``
    message carries the value to mask: Airflow sends one for the connection password itself,
    before any provider code runs (and the hook's own ``mask_secret`` adds another). Nothing a
    provider can change; these lines are left out of the search and named in the docs.
    """
    return "Sending request" in line and "msg=MaskSecret(" in line


def leaks(run: Run) -> list[str]:
    """Return every place of ``run`` holding a needle, as ``"<where>: <needle prefix>"``."""
    found = []
    texts = database_texts(run)
    output = "\n".join(line for line in run.output.splitlines() if not airflow_own_mask_requests(line))
    for needle in NEEDLES:
        shown = needle[:8] + "…"
        found += [f"file {name}: {shown}" for name in files_containing(run.home, needle)]
        found += [f"table {t}: {shown}" for t, rows in texts.items() if any(needle in row for row in rows)]
        if needle in output:
            found.append(f"stdout/stderr: {shown}")
    return found


# -- the runs worked, so there was something to leak -----------------------------------------------


def test_the_example_dags_ran_with_the_distinctive_key(runs: dict[str, Run]) -> None:
    for run in runs.values():
        assert run.returncode is not None
        if run.expect_success:
            assert run.returncode == 0, f"{run.name}:\n{run.output[-4000:]}"
            assert "state=success" in run.output, run.name
            # Control: the runs logged at DEBUG, so the hook's per-request lines were searched too.
            assert "-> HTTP 200 (request id" in run.output, run.name
            # Control: the DAG really talked to SmartlyQ with the key being searched for.
            assert run.requests, run.name
            assert {r["key"] for r in run.requests} == {"primary"}, run.name
        else:
            assert run.returncode != 0, run.name
            assert "SmartlyQAuthError" in run.output
            assert "INVALID_API_KEY" in run.output
            assert {r["status"] for r in run.requests} == {401}


def test_the_searched_places_hold_real_data(runs: dict[str, Run]) -> None:
    onboard = runs["onboard_account"]
    texts = database_texts(onboard)
    state_token = next(
        json.loads(json.loads(row)["value"])
        for row in texts["xcom"]
        if json.loads(row)["key"] == "state_token"
    )
    # The same search finds a secret that IS stored: the state token (XCom, trigger kwargs).
    assert any(state_token in row for row in texts["xcom"])
    assert any(state_token in row for row in texts["trigger"]), "the deferred connect left no trigger row"
    assert any("instagram" in row for row in texts["dag_run"])  # dag_run.conf
    assert any("instagram" in row for row in texts["rendered_task_instance_fields"])  # rendered platform
    for run in runs.values():
        if run.expect_success:
            assert database_texts(run)["xcom"], f"{run.name} pushed no XCom"


def test_the_search_finds_a_planted_key(runs: dict[str, Run]) -> None:
    home = runs["accounts_overview"].home
    planted = home / "logs" / "planted" / "canary.log"
    planted.parent.mkdir(parents=True)
    planted.write_text(f"prefix {KEY[4:]} suffix")
    try:
        assert files_containing(home, KEY[4:]) == ["logs/planted/canary.log"]
        assert any(w.startswith("file logs/planted/canary.log") for w in leaks(runs["accounts_overview"]))
    finally:
        shutil.rmtree(planted.parent)


@pytest.mark.parametrize("name", [run.name for run in RUNS])
def test_the_key_is_nowhere(runs: dict[str, Run], name: str) -> None:
    assert leaks(runs[name]) == []
