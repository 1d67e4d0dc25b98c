"""
Account lifecycle operators: list, pause, resume, reconnect links and disconnect.

Import them from :mod:`airflow_provider_smartlyq.operators.smartlyq`. Every operator acting on
several accounts selects them the same way (see :mod:`airflow_provider_smartlyq.core.selector`) and
resolves the selection with one ``GET /social/accounts``. The hook (and its HTTP libraries) is
imported inside ``execute`` so that DAG files parse fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_smartlyq._tasks import arguments
from airflow_provider_smartlyq._tasks.selection import (
    SELECTION_TEMPLATE_FIELDS,
    AccountSelectionMixin,
)
from airflow_provider_smartlyq._tasks.task import SmartlyQOperator, task_idempotency_key, task_method
from airflow_provider_smartlyq.links import SmartlyQReconnectLink, push_link

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from airflow.sdk import Context

    from airflow_provider_smartlyq.exceptions import SmartlyQError
    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

__all__ = [
    "SmartlyQDisconnectAccountOperator",
    "SmartlyQListAccountsOperator",
    "SmartlyQPauseAccountsOperator",
    "SmartlyQReconnectUrlOperator",
    "SmartlyQResumeAccountsOperator",
]

#: XCom key of the first reconnect URL, read by :class:`SmartlyQReconnectLink`.
FIRST_RECONNECT_URL_KEY = SmartlyQReconnectLink.xcom_key


def _name_of(account: Mapping[str, Any]) -> str | None:
    name = account.get("name", account.get("account_name"))
    return str(name) if name is not None else None


def _health_by_id(health: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    from airflow_provider_smartlyq.core.selector import account_id_of

    rows: dict[int, dict[str, Any]] = {}
    for row in health.get("accounts") or []:
        if isinstance(row, dict) and (account_id := account_id_of(row)) is not None:
            rows[account_id] = row
    return rows


def needs_reconnect(health_row: Mapping[str, Any]) -> bool:
    """
    Return whether an account needs a human to re-authorise it.

    Unhealthy means a health ``status`` other than ``connected`` (``expired``, ``error``) or
    ``token_expired``: the health sensor's rules with no validity margin and pausing allowed
    (a paused account needs no reconnect). A token that is merely expiring is not included:
    SmartlyQ refreshes tokens itself, and asks for a human only once the health turns bad.
    """
    from airflow_provider_smartlyq.waits.health_gate import unhealthy_reason

    return unhealthy_reason(health_row, min_validity_days=0, allow_paused=True) is not None


class _SmartlyQAccountsOperator(AccountSelectionMixin, SmartlyQOperator):
    """Shared constructor of the operators that select several accounts."""

    template_fields: Sequence[str] = SELECTION_TEMPLATE_FIELDS

    def __init__(
        self,
        *,
        account_ids: int | str | Iterable[int | str] | None = None,
        platforms: str | Iterable[str] | None = None,
        account_name_pattern: str | None = None,
        all_accounts: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._init_selection(account_ids, platforms, account_name_pattern, all_accounts)


class _SetPausedOperator(_SmartlyQAccountsOperator):
    """Bring every selected account to one paused state (the subclasses fix which)."""

    target_paused: ClassVar[bool]
    action: ClassVar[str]
    past_tense: ClassVar[str]

    @task_method
    def execute(self, context: Context) -> list[dict[str, Any]]:
        """Bring the selected accounts to the target state; fail at the end if any write failed."""
        from airflow_provider_smartlyq.core.selector import account_id_of
        from airflow_provider_smartlyq.exceptions import SmartlyQBatchError, SmartlyQError

        hook = self.hook
        selector, accounts = self.select_accounts(hook)
        current = self._current_paused(hook, accounts)
        results: list[dict[str, Any]] = []
        failures: list[tuple[dict[str, Any], SmartlyQError]] = []
        for account in accounts:
            account_id = account_id_of(account)
            if account_id is None:  # the selector already refused id-less rows; keep mypy honest
                continue
            entry = {
                "id": account_id,
                "platform": account.get("platform"),
                "account_name": _name_of(account),
                "paused": current.get(account_id),
                "changed": False,
            }
            if current.get(account_id) is self.target_paused:
                self.log.info(
                    "Account %s (%s) is already %s; skipping",
                    account_id,
                    entry["account_name"],
                    self.past_tense,
                )
                results.append(entry)
                continue
            key = task_idempotency_key(context, self.action, account_id)
            try:
                answer = self._write(hook, account_id, key)
            except SmartlyQError as exc:  # go on with the others, report at the end
                self.log.error("Could not %s account %s: %s", self.action, account_id, exc)
                failures.append((entry, exc))
                continue
            entry.update(paused=bool(answer.get("paused", self.target_paused)), changed=True)
            self.log.info("Account %s (%s) %s", account_id, entry["account_name"], self.past_tense)
            results.append(entry)
        changed = sum(1 for entry in results if entry["changed"])
        self.log.info(
            "%s %d of %d selected accounts (%s); %d already %s",
            self.past_tense.capitalize(),
            changed,
            len(accounts),
            selector.describe(),
            len(results) - changed,
            self.past_tense,
        )
        if failures:
            raise SmartlyQBatchError(
                self._failure_summary(failures, len(accounts), changed), errors=[exc for _, exc in failures]
            )
        return results

    def _write(self, hook: SmartlyQHook, account_id: int, key: str | None) -> dict[str, Any]:
        if self.target_paused:
            return hook.pause_account(account_id, idempotency_key=key)
        return hook.resume_account(account_id, idempotency_key=key)

    def _current_paused(self, hook: SmartlyQHook, accounts: list[dict[str, Any]]) -> dict[int, bool | None]:
        """
        Return each selected account's paused state (``None`` when unknown).

        The spec documents only ``id, platform, name`` for ``GET /social/accounts``, but
        SmartlyQ (and the emulator) also send ``paused``: trust it when every selected account
        carries it as a bool. Otherwise read the state from ONE bulk health call, whose
        per-account ``is_active`` (turned into ``paused`` by the hook) is documented.
        """
        from airflow_provider_smartlyq.core.selector import account_id_of

        flags = {account_id_of(a): a.get("paused") for a in accounts}
        if all(isinstance(flag, bool) for flag in flags.values()):
            return {k: v for k, v in flags.items() if k is not None}
        rows = _health_by_id(hook.get_accounts_health())
        states: dict[int, bool | None] = {}
        for account_id in flags:
            if account_id is None:
                continue
            paused = rows.get(account_id, {}).get("paused")
            if not isinstance(paused, bool):
                # Unknown: send the write anyway; pausing a paused account changes nothing.
                self.log.warning(
                    "The paused state of account %s is unknown; sending %s", account_id, self.action
                )
                paused = None
            states[account_id] = paused
        return states

    def _failure_summary(
        self, failures: list[tuple[dict[str, Any], SmartlyQError]], total: int, changed: int
    ) -> str:
        lines = "; ".join(f"{entry['id']} ({entry['account_name']}): {exc}" for entry, exc in failures)
        return (
            f"could not {self.action} {len(failures)} of {total} selected accounts: {lines}. "
            f"{changed} other account(s) were {self.past_tense}; a retry acts only on the accounts "
            f"not yet {self.past_tense}."
        )


class SmartlyQPauseAccountsOperator(_SetPausedOperator):
    """
    Pause posting to every selected account (a brand, a platform, a list of ids).

    A paused account stays connected; SmartlyQ skips it when publishing. Accounts already
    paused are skipped and logged, so a second run changes nothing. A failure on one account
    does not stop the others: the task fails at the end with a summary naming each failed
    account and its error. Each write carries an idempotency key derived from the task
    instance's try and the account, so a lost answer is replayed rather than acted on twice;
    a later try re-reads the states and writes only what is not yet done.

    :param account_ids: Account ids: an int, a list, or a rendered string (``"101,102"``,
        ``"[101, 102]"``). Templated.
    :param platforms: Platform names, aliases accepted (``x``, ``google_business``). Templated.
    :param account_name_pattern: Case-insensitive glob on the account name, e.g. ``"Acme *"``.
        Templated.
    :param all_accounts: Select every account; required when no other criterion is given.

    Like every SmartlyQ operator it takes ``smartlyq_conn_id``; the connection's
    ``profile_id`` extra picks the profile.

    The task returns ``[{id, platform, account_name, paused, changed}]``, one item per selected
    account.
    """

    target_paused = True
    action = "pause"
    past_tense = "paused"


class SmartlyQResumeAccountsOperator(_SetPausedOperator):
    """
    Resume posting to every selected account.

    The mirror of :class:`SmartlyQPauseAccountsOperator`, with the same arguments, skipping,
    failure summary and return value ``[{id, platform, account_name, paused, changed}]``.
    """

    target_paused = False
    action = "resume"
    past_tense = "resumed"


class SmartlyQListAccountsOperator(_SmartlyQAccountsOperator):
    """
    Return the selected accounts, optionally with their health.

    :param include_health: Add each account's row of ONE bulk health call under ``health``
        (``{status, token_expired, validity_days, is_active, paused, ...}``, ``None`` when the
        health answer lacks the account). Templated.

    The task returns the selected accounts as ``GET /social/accounts`` lists them (``id``,
        ``platform``, ``name``, ...), plus ``health`` when asked.

    The selector arguments are those of :class:`SmartlyQPauseAccountsOperator`.
    """

    template_fields: Sequence[str] = (*SELECTION_TEMPLATE_FIELDS, "include_health")

    argument_checks = {"include_health": arguments.flag("include_health", default=False)}

    def __init__(self, *, include_health: bool | str = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store_arguments(include_health=include_health)

    @task_method
    def execute(self, context: Context) -> list[dict[str, Any]]:
        """Return the selected accounts, with one bulk health call merged in when asked."""
        from airflow_provider_smartlyq.core.selector import account_id_of

        include_health = self.checked("include_health")
        hook = self.hook
        selector, accounts = self.select_accounts(hook)
        if include_health:
            rows = _health_by_id(hook.get_accounts_health())
            for account in accounts:
                row = rows.get(account_id_of(account) or 0)
                # Nested, so health fields never overwrite the list's own (name, paused...).
                account["health"] = (
                    {k: v for k, v in row.items() if k not in ("id", "platform", "account_name")}
                    if row is not None
                    else None
                )
        self.log.info("Selected %d accounts (%s)", len(accounts), selector.describe())
        return accounts


class SmartlyQReconnectUrlOperator(_SmartlyQAccountsOperator):
    """
    Return re-authorisation links for the selected accounts that need a human.

    With ``unhealthy_only`` (the default) one bulk health call picks the accounts whose health
    status is not ``connected`` or whose token has expired (see :func:`needs_reconnect`; a
    token that is only expiring soon is left to SmartlyQ's own refresh); then one
    ``GET /social/accounts/{id}/reconnect-url`` per such account. The first URL is pushed to
    XCom under ``first_reconnect_url`` for the task's "SmartlyQ reconnect link" button. URLs
    are not written to the task log.

    :param unhealthy_only: ``False`` returns a link for every selected account. Templated.

    The task returns ``{"<account id>": reconnect_url}``. Keys are strings because XCom is JSON and
        JSON object keys are strings: declaring it saves a surprise downstream. Empty when
        every selected account is healthy.

    The selector arguments are those of :class:`SmartlyQPauseAccountsOperator`.
    """

    template_fields: Sequence[str] = (*SELECTION_TEMPLATE_FIELDS, "unhealthy_only")
    operator_extra_links = (SmartlyQReconnectLink(),)

    argument_checks = {"unhealthy_only": arguments.flag("unhealthy_only", default=True)}

    def __init__(self, *, unhealthy_only: bool | str = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store_arguments(unhealthy_only=unhealthy_only)

    @task_method
    def execute(self, context: Context) -> dict[str, str]:
        """Return ``{account id: reconnect URL}``; push the first URL for the extra link."""
        from airflow_provider_smartlyq.core.selector import account_id_of

        unhealthy_only = self.checked("unhealthy_only")
        urls: dict[str, str] = {}
        hook = self.hook
        selector, accounts = self.select_accounts(hook)
        targets = [i for i in (account_id_of(a) for a in accounts) if i is not None]
        if unhealthy_only:
            rows = _health_by_id(hook.get_accounts_health())
            missing = [i for i in targets if i not in rows]
            if missing:
                self.log.warning("No health reported for accounts %s; skipping them", missing)
            targets = [i for i in targets if i in rows and needs_reconnect(rows[i])]
        for account_id in targets:
            urls[str(account_id)] = hook.get_reconnect_url(account_id)
        if urls:
            self.log.info("Reconnect links for accounts %s", ", ".join(urls))
            ti = context.get("ti")
            if ti is not None:
                push_link(self, ti, FIRST_RECONNECT_URL_KEY, next(iter(urls.values())))
        else:
            self.log.info("No selected account needs reconnecting (%s)", selector.describe())
        return urls


class SmartlyQDisconnectAccountOperator(SmartlyQOperator):
    """
    Disconnect one account for good, after checking its name.

    Disconnecting is irreversible, so the operator first reads the account list and refuses
    (:class:`~airflow_provider_smartlyq.exceptions.SmartlyQValidationError`, nothing written)
    unless the account's current name equals ``confirm_account_name``. Names compare exactly,
    case included, after trimming surrounding whitespace on both sides. An account already
    gone (absent from the list, or a 404 on delete) is a success with a warning.

    :param account_id: The account to disconnect. Templated.
    :param confirm_account_name: The account's current name, as SmartlyQ shows it. Templated.

    Like every SmartlyQ operator it takes ``smartlyq_conn_id``.

    The task returns ``{id, platform, account_name, disconnected, already_gone}``.
    """

    template_fields: Sequence[str] = ("account_id", "confirm_account_name")

    argument_checks = {"account_id": arguments.account_id, "confirm_account_name": arguments.confirmation}
    account_id: int | str
    confirm_account_name: str

    def __init__(self, *, account_id: int | str, confirm_account_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store_arguments(account_id=account_id, confirm_account_name=confirm_account_name)

    @task_method
    def execute(self, context: Context) -> dict[str, Any]:
        """Disconnect the account if its name matches; treat an account already gone as success."""
        from airflow_provider_smartlyq.core.selector import account_id_of
        from airflow_provider_smartlyq.exceptions import (
            SmartlyQNotEnabledError,
            SmartlyQNotFoundError,
            SmartlyQValidationError,
        )

        account_id = self.checked("account_id")
        confirm = self.checked("confirm_account_name")
        gone = {
            "id": account_id,
            "platform": None,
            "account_name": None,
            "disconnected": False,
            "already_gone": True,
        }
        hook = self.hook
        account = next((a for a in hook.list_accounts() if account_id_of(a) == account_id), None)
        if account is None:
            self.log.warning("Account %s is not connected (already disconnected?); nothing to do", account_id)
            return gone
        name = (_name_of(account) or "").strip()
        if name != confirm:
            raise SmartlyQValidationError.local(
                f"refusing to disconnect account {account_id}: its name is {name!r}, "
                f"confirm_account_name is {confirm!r} (names must match exactly, case included)"
            )
        try:
            hook.disconnect_account(
                account_id, idempotency_key=task_idempotency_key(context, "disconnect", account_id)
            )
        except SmartlyQNotFoundError as exc:
            if isinstance(exc, SmartlyQNotEnabledError):
                raise
            self.log.warning("Account %s was already gone when deleting it: %s", account_id, exc)
            return {**gone, "platform": account.get("platform"), "account_name": name}
        self.log.info("Disconnected account %s (%s, %s)", account_id, name, account.get("platform"))
        return {
            "id": account_id,
            "platform": account.get("platform"),
            "account_name": name,
            "disconnected": True,
            "already_gone": False,
        }
