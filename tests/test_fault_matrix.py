"""
The fault matrix: every transport fault against every way the provider talks to SmartlyQ.

Faults (injected in the emulator): 429 with ``Retry-After``, 500, 502 with an HTML body, 503,
a connection reset, a read timeout (a ``delay`` longer than the connection's ``timeout``
extra), a 200 with malformed JSON and a 200 with a truncated body. The emulator sends fault
bodies with a matching ``Content-Length``, so "truncated" is a real success envelope of the
route cut in half (for the POST route, a success envelope of its shape cut in half).

Components: a sync GET (``get_accounts_health``), a sync POST (``pause_account``) with the
fault answered before the server acts and, in ``POST after``, after it acted (the client never
hears the result), ``ConnectCompletedTrigger.run()`` and ``SmartlyQHealthSensor.poke``.

Each cell checks the outcome (success after retries, or the typed error; the trigger keeps
waiting and ends with ``timeout``; the sensor answers "not yet"), the request count (bounded:
no spin), the write log (never twice) and that only the provider's or Airflow's exception types
escape. The last test prints the matrix.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from airflow_provider_smartlyq.exceptions import (
    SmartlyQConnectionError,
    SmartlyQError,
    SmartlyQRateLimitError,
    SmartlyQServerError,
)
from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

CONN_ID = "smartlyq_faults"
#: A 429 holds every request on its key (as SmartlyQ means it), so a trigger cell whose fault is a
#: 429 would hold the other cells' polls for their whole short window. Each 429 cell therefore gets
#: a request budget of its own: the transient one reaches the emulator as ``localhost`` (another
#: base URL), the persistent one uses the emulator's read-only key (enough for a GET).
CONN_429 = {"transient": "smartlyq_faults_429_transient", "persistent": "smartlyq_faults_429_persistent"}
READ_ONLY_KEY = "sqk_test_faults_read_only_0000"
#: Retries after the first attempt, for every component (hook extra; the trigger's own default).
RETRIES = 2
ATTEMPTS = RETRIES + 1
#: The connection's ``timeout`` extra; a read-timeout fault holds the answer for ``DELAY``.
TIMEOUT = 0.5
DELAY = 1.0
#: Transient faults answer this many requests (fewer than the attempts of one call).
BLIP = 2
#: The trigger's transient faults outlast one poll's retries, so the wait must survive a failed poll.
TRIGGER_OUTAGE = ATTEMPTS + 1
PERSISTENT = 1000
POLL_INTERVAL = 0.5
#: How long the trigger's persistent cells wait before their ``end_time``.
TRIGGER_WINDOW = 3.0
#: Longest a 429 of another cell holds every request on the key (the cells share one key, so
#: one request budget): Retry-After 1 s plus at most 0.5 s of jitter.
SHARED_HOLD = 1.5
#: Longest a trigger's in-flight poll may run past the deadline: every attempt waits out a
#: shared hold and times out, and each backoff is at most ``max(1, poll_interval)`` (or a 1 s
#: Retry-After).
TRIGGER_POLL_MAX = ATTEMPTS * (TIMEOUT + SHARED_HOLD) + RETRIES * max(1.0, POLL_INTERVAL)

HEALTH = "/v1/social/accounts/health"
PAUSE_ID = 101
PAUSE = f"/v1/social/accounts/{PAUSE_ID}/pause"
GATE_IDS = [101, 103]  # healthy in the demo seed
HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
MALFORMED = '{"success": true, "data": {\'accounts\': [], "healthy": 5,}}'


@dataclass(frozen=True)
class Fault:
    """One row of the matrix: how to inject it and what a caller gets once retries run out."""

    name: str
    options: dict[str, Any]
    error: type[SmartlyQError]
    code: str | None = None
    truncated: bool = False

    def inject(
        self, emu: Any, path: str, method: str, count: int, *, after: bool = False, retry_after: int = 0
    ) -> None:
        options = dict(self.options)
        if "retry_after" in options:
            options["retry_after"] = retry_after
        if self.truncated:
            options["body"] = truncated_body(emu, path, method)
        emu.client.inject_fault(path, method, count=count, after=after, **options)


FAULTS = (
    Fault(
        "429 Retry-After", {"status": 429, "code": "RATE_LIMITED", "retry_after": 0}, SmartlyQRateLimitError
    ),
    Fault("500", {"status": 500, "code": "INTERNAL_ERROR"}, SmartlyQServerError),
    Fault("502 HTML body", {"status": 502, "body": HTML_502}, SmartlyQServerError),
    Fault("503", {"status": 503, "code": "SERVICE_UNAVAILABLE"}, SmartlyQServerError),
    Fault("connection reset", {"drop_connection": True}, SmartlyQConnectionError),
    Fault("read timeout", {"delay": DELAY}, SmartlyQConnectionError),
    Fault(
        "malformed JSON 200",
        {"status": 200, "body": MALFORMED, "content_type": "application/json"},
        SmartlyQServerError,
        code="INVALID_RESPONSE",
    ),
    Fault(
        "truncated 200",
        {"status": 200, "content_type": "application/json"},
        SmartlyQServerError,
        code="INVALID_RESPONSE",
        truncated=True,
    ),
)
FAULT_IDS = [f.name.replace(" ", "-") for f in FAULTS]
COLUMNS = ("GET (sync)", "POST (sync)", "POST after", "trigger poll", "sensor poke")
SCENARIOS = ("transient", "persistent")

#: ``{(fault, scenario): {column: "outcome, N req"}}``, filled by the cells, printed at the end.
MATRIX: dict[tuple[str, str], dict[str, str]] = {}


def record(fault: Fault, scenario: str, column: str, outcome: str) -> None:
    MATRIX.setdefault((fault.name, scenario), {})[column] = outcome


def truncated_body(emu: Any, path: str, method: str) -> str:
    """Return the route's real success body cut in half (a shaped envelope for writes)."""
    if method == "GET":
        response = requests.get(
            emu.url + path, headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=10
        )
        assert response.status_code == 200, response.text
        body = response.text
    else:
        data = {"id": PAUSE_ID, "paused": True}
        body = json.dumps({"success": True, "data": data, "meta": {"request_id": "req_cut"}})
    return body[: len(body) // 2]


def allowed_exception(exc: BaseException) -> bool:
    """Return whether ``exc`` is one of the provider's typed errors or one of Airflow's own."""
    module = type(exc).__module__
    return module == "airflow_provider_smartlyq.exceptions" or module.split(".")[0] == "airflow"


def settled(emu: Any, path: str, count: int, *, baseline: int = 0, timeout: float = 5.0) -> list[dict]:
    """
    Return the requests on ``path`` once ``count`` are logged past ``baseline`` (or the timeout).

    The emulator logs a request when it is done with it: a dropped one just after the reset, a
    delayed one when its delay ends, long after the client gave up. Waiting also keeps a delayed
    write from acting after the next test's reset.
    """
    deadline = time.monotonic() + timeout
    while True:
        log = [r for r in emu.client.requests() if r["path"] == path][baseline:]
        if len(log) >= count or time.monotonic() > deadline:
            return log
        time.sleep(0.02)


def check_writes(emu: Any, attempts: list[dict], *, after: bool, fault: Fault, succeeded: bool) -> None:
    """The POST acted at most once: one key for every attempt, at most one non-replayed action."""
    keys = {r["idempotency_key"] for r in attempts}
    assert len(keys) == 1, f"retries must reuse one idempotency key: {keys}"
    assert None not in keys
    handler_ran = after or "delay" in fault.options  # a before-fault answers without the handler
    acted = [r for r in attempts if not r["replay"] and (handler_ran or not r["fault"])]
    writes = [w["action"] for w in emu.client.writes()]
    assert len(acted) <= 1, f"the server acted {len(acted)} times"
    expected = ["account_paused"] if (succeeded or acted) else []
    assert writes == expected


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fault_emulator():
    """A dedicated emulator, so that delayed requests never reach another module's tests."""
    from airflow_provider_smartlyq.testing.emulator import run_emulator

    with run_emulator(seed="demo", read_only_key=READ_ONLY_KEY) as emulator:
        yield emulator


def conn_env(emu: Any) -> dict[str, str]:
    return {f"AIRFLOW_CONN_{CONN_ID.upper()}": emu.connection_json(timeout=TIMEOUT, max_retries=RETRIES)}


@pytest.fixture
def emu(fault_emulator, monkeypatch):
    """The fault emulator, reset to the demo seed, with ``smartlyq_faults`` pointing at it."""
    fault_emulator.client.reset("demo")
    for name, value in conn_env(fault_emulator).items():
        monkeypatch.setenv(name, value)
    return fault_emulator


def fast_hook() -> SmartlyQHook:
    """The hook under test, with millisecond backoff (retries and timeout come from the extras)."""
    return SmartlyQHook(CONN_ID, retry_min_wait=0.01, retry_max_wait=0.05)


class RecordingTI:
    """The slice of Airflow's runtime task instance that a sensor's poke uses."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


# -- sync hook calls and the sensor -----------------------------------------------------------


SYNC_CELLS = [
    pytest.param(
        fault,
        column,
        scenario,
        id=f"{fid}-{column.split()[0]}{'-after' if 'after' in column else ''}-{scenario}",
    )
    for fault, fid in zip(FAULTS, FAULT_IDS, strict=True)
    for column in ("GET (sync)", "POST (sync)", "POST after", "sensor poke")
    for scenario in SCENARIOS
    # A delay-only fault lets the handler act anyway: "POST (sync)" already is the after case.
    if not (column == "POST after" and "delay" in fault.options)
]


@pytest.mark.parametrize(("fault", "column", "scenario"), SYNC_CELLS)
def test_sync_cell(emu, fault: Fault, column: str, scenario: str) -> None:
    transient = scenario == "transient"
    count = BLIP if transient else PERSISTENT
    after = column == "POST after"
    method, path = ("POST", PAUSE) if column.startswith("POST") else ("GET", HEALTH)
    # One cell proves Retry-After is waited out; the others keep it at 0 to stay fast.
    retry_after = 1 if (column == "GET (sync)" and transient and "retry_after" in fault.options) else 0
    fault.inject(emu, path, method, count, after=after, retry_after=retry_after)
    baseline = len([r for r in emu.client.requests() if r["path"] == path])  # truncated_body's GET

    outcome: Any = None
    error: BaseException | None = None
    started = time.monotonic()
    try:
        if column == "sensor poke":
            from airflow_provider_smartlyq.sensors.smartlyq import SmartlyQHealthSensor

            sensor = SmartlyQHealthSensor(task_id="gate", account_ids=GATE_IDS, smartlyq_conn_id=CONN_ID)
            sensor.hook = fast_hook()  # the sensor's own hook, with the test's short backoff
            outcome = sensor.poke({"ti": RecordingTI()})
        else:
            with fast_hook() as hook:
                outcome = hook.get_accounts_health() if method == "GET" else hook.pause_account(PAUSE_ID)
    except BaseException as exc:  # every type is checked below
        error = exc
    elapsed = time.monotonic() - started
    attempts = settled(emu, path, ATTEMPTS, baseline=baseline)
    label = type(error).__name__.replace("SmartlyQ", "") if error else "ok"
    if column == "sensor poke" and error is None:
        label = "done" if getattr(outcome, "is_done", False) else f"poke={outcome!r}"
    record(fault, scenario, column, f"{label}, {len(attempts)} req")

    assert error is None or allowed_exception(error), (
        f"{type(error).__module__}.{type(error).__name__} escaped"
    )
    # Never a spin: one call sends at most 1 + retries requests, whatever the fault.
    assert len(attempts) <= ATTEMPTS
    if column == "sensor poke":
        assert error is None, f"a poke must not fail on a transient fault: {error!r}"
        if transient:
            assert outcome.is_done
            assert [a["id"] for a in outcome.xcom_value] == GATE_IDS
        else:
            assert outcome is False  # "not yet": the sensor pokes again at the next interval
        assert len(attempts) == ATTEMPTS
    elif transient:
        assert error is None, f"{BLIP} faults must be retried away: {error!r}"
        assert len(attempts) == ATTEMPTS
        if method == "GET":
            assert outcome["healthy"] == 5
            if retry_after:
                assert elapsed >= 2 * retry_after - 0.05  # Retry-After honoured, not the 50 ms backoff
        else:
            assert outcome == {"id": PAUSE_ID, "paused": True}
    else:
        assert isinstance(error, fault.error), repr(error)
        assert len(attempts) == ATTEMPTS
        if fault.code:
            assert error.code == fault.code  # type: ignore[attr-defined]
        assert emu.api_key not in str(error)
    if method == "POST":
        check_writes(emu, attempts, after=after, fault=fault, succeeded=error is None)


# -- trigger polls: every cell runs at once in one event loop, as in a triggerer -----------------


@dataclass
class TriggerCell:
    fault: Fault
    scenario: str
    state_token: str
    account_id: int
    end_time: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)
    error: BaseException | None = None
    elapsed: float = 0.0
    finished_at: float = 0.0
    requests: list[dict] = field(default_factory=list)


@pytest.fixture(scope="module")
def trigger_cells(fault_emulator) -> dict[tuple[str, str], TriggerCell]:
    """
    Run one ``ConnectCompletedTrigger`` per (fault, scenario) concurrently; return the cells.

    Each trigger polls its own approved link, so its faults live on its own path. Transient
    faults outlast one poll's retries; persistent ones last past a short ``end_time``.
    """
    from airflow_provider_smartlyq.triggers.smartlyq import ConnectCompletedTrigger

    emu = fault_emulator
    emu.client.reset("demo")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in conn_env(emu).items():
            patch.setenv(name, value)
        for scenario, conn_id in CONN_429.items():
            conn = json.loads(emu.connection_json(timeout=TIMEOUT, max_retries=RETRIES))
            if scenario == "transient":
                conn["host"] = conn["host"].replace("127.0.0.1", "localhost")
            else:
                conn["password"] = READ_ONLY_KEY
            patch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        cells: dict[tuple[str, str], TriggerCell] = {}
        with fast_hook() as hook:
            for fault in FAULTS:
                for scenario in SCENARIOS:
                    token = hook.create_connect_link("facebook")["state_token"]
                    [account] = emu.client.approve_connect(token, name=f"{fault.name} {scenario}")
                    cells[(fault.name, scenario)] = TriggerCell(fault, scenario, token, account["id"])
        for cell in cells.values():
            count = TRIGGER_OUTAGE if cell.scenario == "transient" else PERSISTENT
            cell.fault.inject(emu, f"/v1/social/connect/{cell.state_token}", "GET", count, retry_after=1)
        baselines = {key: len(status_requests(emu, cell)) for key, cell in cells.items()}

        async def run(cell: TriggerCell) -> None:
            window = TRIGGER_WINDOW if cell.scenario == "persistent" else 60.0
            cell.end_time = time.time() + window
            trigger = ConnectCompletedTrigger(
                cell.state_token,
                smartlyq_conn_id=CONN_429[cell.scenario]
                if cell.fault.options.get("status") == 429
                else CONN_ID,
                poll_interval=POLL_INTERVAL,
                end_time=cell.end_time,
            )
            started = time.monotonic()
            try:
                async for event in trigger.run():
                    cell.events.append(event.payload)
            except BaseException as exc:  # every type is checked by the cell's test
                cell.error = exc
            finally:
                await trigger.cleanup()
            cell.elapsed = time.monotonic() - started
            cell.finished_at = time.time()

        async def run_all() -> None:
            await asyncio.gather(*(run(cell) for cell in cells.values()))

        asyncio.run(run_all())
        # Let delayed polls finish server-side before anything else uses the emulator.
        time.sleep(DELAY + 0.2)
        for key, cell in cells.items():
            cell.requests = status_requests(emu, cell)[baselines[key] :]
    return cells


def status_requests(emu: Any, cell: TriggerCell) -> list[dict]:
    path = f"/v1/social/connect/{cell.state_token}"
    return [r for r in emu.client.requests() if r["path"] == path]


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
def test_trigger_cell(trigger_cells, fault: Fault, scenario: str) -> None:
    cell = trigger_cells[(fault.name, scenario)]
    status = cell.events[0].get("status") if cell.events else None
    label = type(cell.error).__name__ if cell.error else f"{status} after {cell.elapsed:.1f}s"
    record(fault, scenario, "trigger poll", f"{label}, {len(cell.requests)} req")

    assert cell.error is None, f"run() raised {cell.error!r}"
    assert len(cell.events) == 1, cell.events  # exactly one event, then return
    assert all(r["method"] == "GET" for r in cell.requests)
    # Never a spin: each poll is followed by a sleep of poll_interval (or the Retry-After), and
    # sends at most 1 + retries requests; aiohttp itself resends an idempotent GET once when a
    # kept-alive connection drops (RFC 9112 9.3.1), hence the factor 2 for resets.
    polls = math.floor((cell.elapsed + 0.5) / POLL_INTERVAL) + 1
    resend = 2 if "drop_connection" in fault.options else 1
    assert len(cell.requests) <= polls * ATTEMPTS * resend
    if scenario == "transient":
        # The outage outlasted a whole poll: the wait survived it and saw the approval.
        assert status == "connected", cell.events
        assert cell.events[0]["account"]["id"] == cell.account_id
        if "drop_connection" not in fault.options:
            assert len(cell.requests) == TRIGGER_OUTAGE + 1
    else:
        # Transient errors never end the wait: only the deadline does, on time.
        assert status == "timeout", cell.events
        assert cell.finished_at >= cell.end_time - 0.05
        assert cell.finished_at <= cell.end_time + TRIGGER_POLL_MAX + 1.5
        # It did poll through the outage. A 429 holds its key for Retry-After (1 s) plus up to
        # 0.5 s of jitter, so the 3 s window fits two polls for certain, not three.
        assert len(cell.requests) >= (2 if fault.options.get("status") == 429 else ATTEMPTS)


# -- the printed matrix ----------------------------------------------------------------------------


def test_print_the_fault_matrix(capsys) -> None:
    """Print cell -> outcome and request count (shown in normal pytest output)."""
    width = max(len(f"{f.name} / {s}") for f in FAULTS for s in SCENARIOS)
    widths = [
        max([len(column)] + [len(row.get(column, "")) for row in MATRIX.values()]) for column in COLUMNS
    ]
    header = (
        "fault / scenario".ljust(width)
        + " | "
        + " | ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))
    )
    lines = [header, "-" * len(header)]
    for fault in FAULTS:
        for scenario in SCENARIOS:
            row = MATRIX.get((fault.name, scenario), {})
            cells = [
                row.get(c, "= POST (sync)" if c == "POST after" and "delay" in fault.options else "-")
                for c in COLUMNS
            ]
            lines.append(
                f"{fault.name} / {scenario}".ljust(width)
                + " | "
                + " | ".join(v.ljust(w) for v, w in zip(cells, widths, strict=True))
            )
    notes = (
        f"transient = {BLIP} faulted requests ({TRIGGER_OUTAGE} for the trigger: longer than one poll); "
        f"persistent = every request; retries = {RETRIES}, timeout extra = {TIMEOUT}s, "
        f"read-timeout delay = {DELAY}s, trigger poll_interval = {POLL_INTERVAL}s, "
        f"persistent trigger end_time = +{TRIGGER_WINDOW}s; 'truncated 200' = a real body cut in half "
        "(the emulator always sends a matching Content-Length)."
    )
    with capsys.disabled():
        print("\n\nSmartlyQ fault matrix\n" + "\n".join(lines) + "\n" + notes + "\n")
    assert MATRIX, "no cell ran"
