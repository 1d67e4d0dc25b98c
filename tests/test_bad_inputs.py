"""
The bad-input table: every public entry point refuses bad input, typed, before any request.

Rows are inputs a DAG author gets wrong (or right in an unusual way); columns are the entry
points that take them: the hook, the operators and sensors (the value given literally, checked
when the DAG is parsed, and the same value arriving through a template, checked in
``execute``/``poke``), and the triggers' constructors (what the triggerer rebuilds from kwargs).
A refusal must be a :class:`SmartlyQValidationError` raised locally (``status_code`` 0, a short
message) with the emulator's request log still empty; the aliases ``X``/``Twitter`` and a
unicode name pattern must succeed. Nothing may escape as a bare ``TypeError``/``ValueError``/
``KeyError``. The last test prints the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk import BaseOperator

from airflow_provider_smartlyq.exceptions import SmartlyQValidationError
from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook
from airflow_provider_smartlyq.operators.smartlyq import (
    SmartlyQConnectAccountOperator,
    SmartlyQDisconnectAccountOperator,
    SmartlyQListAccountsOperator,
    SmartlyQPauseAccountsOperator,
    SmartlyQPublishPostOperator,
    SmartlyQReconnectUrlOperator,
    SmartlyQResumeAccountsOperator,
)
from airflow_provider_smartlyq.sensors.smartlyq import (
    SmartlyQConnectCompletedSensor,
    SmartlyQHealthSensor,
    SmartlyQPostStatusSensor,
)
from airflow_provider_smartlyq.triggers.smartlyq import (
    AccountHealthEventTrigger,
    AccountHealthTrigger,
    ConnectCompletedTrigger,
)

if TYPE_CHECKING:
    from collections.abc import Callable

TEMPLATE = "{{ params.value }}"
LONG_PATTERN = "Acme *" + "x" * 10 * 1024
UNICODE_PATTERN = "Café *"
UNICODE_NAME = "CAFÉ Paris"  # matches "Café *" once both are casefolded
TWITTER_ID = 103  # "Acme X" in the demo seed


class RecordingTI:
    """The slice of Airflow's runtime task instance the operators use (XCom, key parts)."""

    def __init__(self) -> None:
        self.dag_id, self.run_id, self.task_id, self.map_index, self.try_number = "d", "r", "t", -1, 1
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def context() -> Any:
    return {"ti": RecordingTI()}


# -- how each entry point receives a value -------------------------------------------------------


SELECTOR_OPERATORS: dict[str, tuple[type, dict[str, Any]]] = {
    "health sensor": (SmartlyQHealthSensor, {}),
    "pause op": (SmartlyQPauseAccountsOperator, {}),
    "resume op": (SmartlyQResumeAccountsOperator, {}),
    "list op": (SmartlyQListAccountsOperator, {}),
    "reconnect op": (SmartlyQReconnectUrlOperator, {}),
    "publish op": (SmartlyQPublishPostOperator, {"content": "Hello", "wait_for_completion": False}),
}


def parse(cls: type, **kwargs: Any) -> Any:
    """Build the task as a DAG file does (literal values are checked now)."""
    return cls(task_id="t", **kwargs)


def run(cls: type, field: str, value: Any, **kwargs: Any) -> Any:
    """Build the task with a templated ``field``, give it the rendered ``value``, run it."""
    task = cls(task_id="t", **{field: TEMPLATE}, **kwargs)
    setattr(task, field, value)  # what Airflow's rendering does to a template field
    if isinstance(task, (SmartlyQHealthSensor, SmartlyQPostStatusSensor, SmartlyQConnectCompletedSensor)):
        task.hook = SmartlyQHook(task.smartlyq_conn_id, retry_min_wait=0.01, retry_max_wait=0.05)
        return task.poke(context())
    return task.execute(context())


def selector_column(name: str) -> Callable[[str, Any], list[Callable[[], Any]]]:
    """Return the parse and run calls of one selector-taking task for ``field=value``."""
    cls, extra = SELECTOR_OPERATORS[name]

    def calls(field: str, value: Any) -> list[Callable[[], Any]]:
        return [lambda: parse(cls, **{field: value}, **extra), lambda: run(cls, field, value, **extra)]

    return calls


def triggers_column(field: str, value: Any) -> list[Callable[[], Any]]:
    """Both triggers that take a selection, rebuilt from kwargs holding ``field=value``."""
    selector = {field: value if field != "account_ids" else [value]}
    if field == "platforms":
        selector = {field: [value]}
    return [
        lambda: AccountHealthTrigger(selector=selector, poll_interval=1),
        lambda: AccountHealthEventTrigger(**{field: value}, poll_interval=1),
    ]


# -- the table ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One input, where it goes (``field``) and whether it must succeed."""

    name: str
    field: str
    value: Any
    succeeds: bool = False


ROWS = (
    Row("unknown platform 'myspace'", "platforms", "myspace"),
    Row("alias 'X'", "platforms", "X", succeeds=True),
    Row("alias 'Twitter'", "platforms", "Twitter", succeeds=True),
    Row("empty selector (None)", "account_ids", None),
    Row("empty selector ('' rendered)", "account_ids", ""),
    Row("empty selector ([])", "account_ids", []),
    Row("id 0", "account_ids", 0),
    Row("id -1", "account_ids", -1),
    Row("id 'abc'", "account_ids", "abc"),
    Row("id '\u0661\u0660\u0661' (Arabic-Indic 101)", "account_ids", "\u0661\u0660\u0661"),
    Row("return_url 'ftp://...'", "return_url", "ftp://example.com/back"),
    Row("return_url 'javascript:'", "return_url", "javascript:alert(1)"),
    Row("return_url relative", "return_url", "/connected"),
    Row("empty state_token", "state_token", ""),
    Row("state_token '..'", "state_token", ".."),
    Row("10 KB name pattern", "account_name_pattern", LONG_PATTERN),
    Row("unicode pattern 'Café *'", "account_name_pattern", UNICODE_PATTERN, succeeds=True),
    Row("idempotency key 'new post!'", "idempotency_key", "new post!"),
)
COLUMNS = (
    "hook",
    "connect op",
    "health sensor",
    "pause op",
    "resume op",
    "list op",
    "reconnect op",
    "publish op",
    "disconnect op",
    "post sensor",
    "connect sensor",
    "triggers",
)


def calls_for(row: Row, column: str) -> list[Callable[[], Any]] | None:
    """Return the calls of ``column`` for ``row`` (``None`` when the entry point does not take it)."""
    field, value = row.field, row.value
    hook = SmartlyQHook(retry_min_wait=0.01, retry_max_wait=0.05)
    if column == "hook":
        if field == "platforms":
            return [lambda: hook.create_connect_link(value)]
        if field == "return_url":
            return [lambda: hook.create_connect_link("facebook", value)]
        if field == "state_token":
            return [lambda: hook.get_connect_status(value)]
        if field == "account_ids":
            return [
                lambda: hook.get_account_health(value),
                lambda: hook.get_reconnect_url(value),
                lambda: hook.pause_account(value),
                lambda: hook.resume_account(value),
                lambda: hook.disconnect_account(value),
            ]
        return None
    if column == "connect op":
        if field == "platforms":
            return [
                lambda: parse(SmartlyQConnectAccountOperator, platform=value),
                lambda: run(SmartlyQConnectAccountOperator, "platform", value, wait_for_completion=False),
            ]
        if field == "return_url":
            return [
                lambda: parse(SmartlyQConnectAccountOperator, platform="facebook", return_url=value),
                lambda: run(SmartlyQConnectAccountOperator, "return_url", value, platform="facebook"),
            ]
        return None
    if field == "idempotency_key":
        publish = {"content": "Hello", "all_accounts": True}
        return (
            [
                lambda: parse(SmartlyQPublishPostOperator, idempotency_key=value, **publish),
                lambda: run(SmartlyQPublishPostOperator, field, value, wait_for_completion=False, **publish),
            ]
            if column == "publish op"
            else None
        )
    if column in SELECTOR_OPERATORS:
        return selector_column(column)(field, value) if field not in ("return_url", "state_token") else None
    if column == "connect sensor" and field == "state_token":
        return [
            lambda: parse(SmartlyQConnectCompletedSensor, state_token=value),
            lambda: run(SmartlyQConnectCompletedSensor, "state_token", value),
        ]
    if field == "state_token":
        return [lambda: ConnectCompletedTrigger(value, poll_interval=1)] if column == "triggers" else None
    if column == "disconnect op" and field == "account_ids":
        return [
            lambda: parse(SmartlyQDisconnectAccountOperator, account_id=value, confirm_account_name="x"),
            lambda: run(SmartlyQDisconnectAccountOperator, "account_id", value, confirm_account_name="x"),
        ]
    if column == "post sensor" and field == "account_ids":
        return [
            lambda: parse(SmartlyQPostStatusSensor, post_id=value),
            lambda: run(SmartlyQPostStatusSensor, "post_id", value),
        ]
    if column == "triggers" and field != "return_url":
        calls = triggers_column(field, value)
        if field == "account_ids" and value in (None, "", []):
            calls[0] = lambda: AccountHealthTrigger(selector={}, poll_interval=1)
        return calls
    return None


#: ``{row name: {column: outcome}}``, filled by the cells, printed at the end.
TABLE: dict[str, dict[str, str]] = {}

#: Only the cells whose entry point takes the row's input are tests; the others print as "n/a"
#: and are not counted as passed.
APPLICABLE = [(row, column) for row in ROWS for column in COLUMNS if calls_for(row, column) is not None]
CELLS = [pytest.param(row, column, id=f"{row.name}-{column}") for row, column in APPLICABLE]


def test_only_applicable_cells_are_collected() -> None:
    assert len(ROWS) * len(COLUMNS) == 216
    assert len(CELLS) == 124  # 92 cells do not apply (a hook has no account_name_pattern, ...)
    assert all(calls_for(row, column) is not None for row, column in APPLICABLE)


def check_success(row: Row, column: str, result: Any, emu: Any, account: dict[str, Any] | None) -> str:
    """Check what an accepted alias or unicode pattern did; return the cell's text."""
    if row.field == "platforms":  # X and Twitter both mean twitter
        if column in ("hook", "connect op"):
            assert result["platform"] == "twitter"
            paths = [r["path"] for r in emu.client.requests()]
            assert paths[-1] == "/v1/social/connect/twitter"
            return "ok -> twitter"
        expected_ids = [TWITTER_ID]
    else:
        assert account is not None
        expected_ids = [account["id"]]
    if column == "triggers":
        assert list(result.selector.to_dict()["platforms"] or []) in ([], ["twitter"])
        return "ok (selector built)"
    if column == "health sensor":
        assert result.is_done
        assert [a["id"] for a in result.xcom_value] == expected_ids
    elif column in ("pause op", "resume op"):
        assert [entry["id"] for entry in result] == expected_ids
        actions = ("account_paused", "account_resumed")
        changed = [w["account_id"] for w in emu.client.writes() if w["action"] in actions]
        assert changed == (expected_ids if column == "pause op" else [])
    elif column == "list op":
        assert [a["id"] for a in result] == expected_ids
    elif column == "reconnect op":
        assert result == {}  # the selected account is healthy
    elif column == "publish op":
        [post] = emu.client.posts()["posts"]
        assert post["account_ids"] == expected_ids
    return f"ok -> {expected_ids}"


@pytest.mark.parametrize(("row", "column"), CELLS)
def test_bad_input_cell(smartlyq_conn, row: Row, column: str) -> None:
    emu = smartlyq_conn
    account = emu.client.add_account("facebook", UNICODE_NAME) if row.value == UNICODE_PATTERN else None
    before = len(emu.client.requests())
    calls = calls_for(row, column)
    assert calls is not None  # only applicable cells are collected
    texts = []
    for call in calls:
        result, error = attempt(call)
        if isinstance(error, SmartlyQValidationError):
            texts.append("refused")
            assert not row.succeeds, f"{row.name} must be accepted: {error}"
            assert error.status_code == 0, f"refused by the API, not locally: {error}"
            assert "nothing was sent" in str(error)
            assert len(str(error)) < 600, "a bad value must not be echoed in full"
            assert len(emu.client.requests()) == before, "a request was sent before refusing"
            continue
        if error is not None:
            TABLE.setdefault(row.name, {})[column] = f"ESCAPED {type(error).__name__}"
            raise AssertionError(
                f"{type(error).__module__}.{type(error).__name__} escaped: {error}"
            ) from error
        if not row.succeeds:
            TABLE.setdefault(row.name, {})[column] = "ACCEPTED"
            raise AssertionError(f"{row.name} was accepted by {column}: {result!r}")
        if isinstance(result, BaseOperator):
            texts.append("ok@parse")  # the DAG file parses; the run below shows the effect
            continue
        texts.append(check_success(row, column, result, emu, account))
    TABLE.setdefault(row.name, {})[column] = summarize(texts)


def attempt(call: Callable[[], Any]) -> tuple[Any, Exception | None]:
    """Return ``(result, None)`` or ``(None, the exception)``: every type is judged by the caller."""
    try:
        return call(), None
    except Exception as exc:
        return None, exc


def summarize(texts: list[str]) -> str:
    if all(t == "refused" for t in texts):
        return "refused" + (f" x{len(texts)}" if len(texts) > 1 else "")
    return texts[-1]


def test_print_the_bad_input_table(capsys) -> None:
    """Print input -> outcome per entry point (shown in normal pytest output)."""
    first = max(len(row.name) for row in ROWS)
    widths = [max([len(c), 3] + [len(TABLE.get(r.name, {}).get(c, "")) for r in ROWS]) for c in COLUMNS]
    header = (
        "input".ljust(first) + " | " + " | ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))
    )
    lines = [header, "-" * len(header)]
    for row in ROWS:
        applicable = {c for r, c in APPLICABLE if r is row}
        cells = [TABLE.get(row.name, {}).get(c, "-" if c in applicable else "n/a") for c in COLUMNS]
        lines.append(
            row.name.ljust(first) + " | " + " | ".join(v.ljust(w) for v, w in zip(cells, widths, strict=True))
        )
    note = (
        "refused = SmartlyQValidationError raised locally (status 0) with no request sent; 'x2' = at parse "
        "time and again when the value arrives through a template; hook ids = get_account_health, "
        "get_reconnect_url, pause/resume/disconnect_account; triggers = AccountHealthTrigger and "
        "AccountHealthEventTrigger."
    )
    with capsys.disabled():
        print("\n\nSmartlyQ bad-input table\n" + "\n".join(lines) + "\n" + note + "\n")
    assert TABLE, "no cell ran"
