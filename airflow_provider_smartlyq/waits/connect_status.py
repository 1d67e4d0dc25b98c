"""
Turn connect-link status answers into wait outcomes, the same way in every waiting mode.

The trigger, the connect operator polling in the worker and the connect sensor in poke or
reschedule mode all call :func:`event_for_status` on each answer and :func:`account_from_event`
on the final event, so a link ends the same way whichever of them watched it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq.core.validation import redact_token, short_token
from airflow_provider_smartlyq.exceptions import SmartlyQError, SmartlyQWaitError
from airflow_provider_smartlyq.waits.policy import ask_once

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook
    from airflow_provider_smartlyq.waits.policy import PollPacer

#: What the user of a task should do when the link it waited for ended without an account.
RERUN_CREATE = "re-run the task (clear it, or let a retry run) to create a new link and send it to the user"
RERUN_UPSTREAM = "re-run the task that created the link to get a new one, then this sensor"


def event_for_status(answer: Mapping[str, Any]) -> dict[str, Any] | None:
    """
    Return the terminal event for one ``GET /social/connect/{state_token}`` answer.

    :return: ``{"status": "connected", "account": {...}}``, ``{"status": "expired"}``, or
        ``None`` while the link is pending (also for a status this version does not know:
        waiting on until the deadline is safer than failing on a new word).
    """
    status = answer.get("status")
    if status == "connected":
        return {"status": "connected", "account": normalize_account(answer.get("account"))}
    if status == "expired":
        return {"status": "expired"}
    return None


#: Seconds past a link's ``expires_at`` before a wait calls it expired without asking: covers
#: a clock a little ahead of SmartlyQ's, so an approval in the link's last second still counts.
EXPIRY_GRACE = 5.0


def expires_at_of(answer: Mapping[str, Any]) -> float | None:
    """Return a connect answer's ``expires_at`` as unix seconds, ``None`` when absent or unreadable."""
    value = answer.get("expires_at")
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:  # SmartlyQ's timestamps are UTC
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def normalize_account(account: object) -> dict[str, Any]:
    """
    Return a connected account as a plain dict carrying both ``account_id`` and ``id``.

    The connect answer documents ``account_id``; every other account call says ``id``. Having
    both lets downstream templates write ``['id']`` whichever call produced the dict.
    """
    data = dict(account) if isinstance(account, dict) else {}
    if "id" not in data and "account_id" in data:
        data["id"] = data["account_id"]
    if "account_id" not in data and "id" in data:
        data["account_id"] = data["id"]
    return data


def account_from_event(event: Mapping[str, Any], *, rerun_hint: str = RERUN_CREATE) -> dict[str, Any]:
    """
    Return the connected account of a final event, or raise saying what to do next.

    :param event: A :class:`~airflow_provider_smartlyq.triggers.smartlyq.ConnectCompletedTrigger`
        payload (or the same dict built in the worker).
    :param rerun_hint: The next step to suggest when the link ended unused.
    :raises SmartlyQError: ``expired``, ``timeout`` or ``error``; the message names the next step.
    """
    status = event.get("status") if isinstance(event, dict) else None
    if status == "connected":
        return normalize_account(event.get("account"))
    if status == "expired":
        raise SmartlyQError(f"The connect link expired before the user approved it: {rerun_hint}.")
    if status == "timeout":
        raise SmartlyQError(
            f"Stopped waiting: the user did not approve the connect link before the timeout. "
            f"To wait longer raise the task's timeout; otherwise {rerun_hint}."
        )
    if status == "error":
        raise SmartlyQWaitError(
            f"Waiting for the connect link failed: {event.get('message') or 'unknown error'}. "
            "Check the SmartlyQ connection (API key, scopes, profile), then "
            f"{rerun_hint}."
        )
    raise SmartlyQError(f"Unexpected event from the connect trigger: {event!r}")


def check_connect_link(
    hook: SmartlyQHook, state_token: str, log: Any, pacer: PollPacer | None = None
) -> dict[str, Any] | None:
    """
    Check a link once from a worker; return its terminal event or ``None`` to wait on.

    Transient errors (no answer, 429, 5xx after the hook's retries) are logged and count as
    "still pending", exactly as in the trigger; permanent ones raise their typed error.

    :param pacer: The wait's pacer: told how the check went, so that the next pause honours
        a 429's ``Retry-After``.
    """
    try:
        answer = ask_once(
            lambda: hook.get_connect_status(state_token),
            pacer=pacer,
            log=log,
            what=f"connect link {short_token(state_token)}",
            redact=lambda text: redact_token(text, state_token),
        )
    except SmartlyQError as exc:  # permanent: its message and path carry the request path
        raise redact_exception(exc, state_token) from None
    if answer is None:
        return None
    event = event_for_status(answer)
    log.info("Connect link %s is %s", short_token(state_token), answer.get("status"))
    return event


def redact_exception(exc: SmartlyQError, state_token: str) -> SmartlyQError:
    """Shorten the state token in an error's message and path (API errors name the request path)."""
    if hasattr(exc, "path") and isinstance(exc.path, str):
        exc.path = redact_token(exc.path, state_token)
    exc.args = tuple(redact_token(arg, state_token) if isinstance(arg, str) else arg for arg in exc.args)
    return exc
