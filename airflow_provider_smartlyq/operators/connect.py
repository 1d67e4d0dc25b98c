"""
Connect a social account through SmartlyQ's headless connect flow.

Import :class:`SmartlyQConnectAccountOperator` from
:mod:`airflow_provider_smartlyq.operators.smartlyq`. The hook and the trigger (and their HTTP
libraries) are imported inside the methods that use them, so DAG files parse fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq._tasks import arguments
from airflow_provider_smartlyq._tasks.task import WaitingOperator, task_idempotency_key, task_method
from airflow_provider_smartlyq.links import SmartlyQConnectLink, push_link, restore_link

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

__all__ = ["SmartlyQConnectAccountOperator"]


class SmartlyQConnectAccountOperator(WaitingOperator):
    """
    Create a single-use connect link and (by default) wait until the user approves it.

    The link is pushed to XCom as ``connect_url`` (also shown as the task's "SmartlyQ connect
    link" button), with ``state_token`` and ``expires_at``. Send it to the user; SmartlyQ links
    expire unused after 15 minutes.

    With ``wait_for_completion`` the task checks the link once, then waits: deferred to
    :class:`~airflow_provider_smartlyq.triggers.smartlyq.ConnectCompletedTrigger` (no worker
    slot held) when ``deferrable``, else polling in the worker. It returns the connected
    account (``{account_id, id, name, username, platform}``). A link that expires, a wait that
    times out, or a permanent API error fail the task with a message saying what to do next;
    network errors, 429 and 5xx while waiting never do.

    Credential platforms that SmartlyQ connects at once (answering ``{platform, account}``
    with no link) return the account immediately.

    :param platform: Platform to connect (``facebook``, ``instagram``, ``x``/``twitter``, ...).
        Templated.
    :param return_url: Absolute https URL (http only for localhost) the browser returns to. Templated.

    The connection and the wait are the arguments of every SmartlyQ operator that waits
    (``smartlyq_conn_id``, ``wait_for_completion``, ``deferrable``, ``poll_interval``,
    ``timeout``: see "Arguments every operator takes"): with ``wait_for_completion=False`` the
    task returns ``{platform, connect_url, state_token, expires_at}`` at once, and ``timeout``
    defaults to 900 s, the link's lifetime.
    """

    template_fields: Sequence[str] = ("platform", "return_url")
    operator_extra_links = (SmartlyQConnectLink(),)
    ui_color = "#dbe9ff"
    argument_checks = {"platform": arguments.platform, "return_url": arguments.return_url}
    platform: str
    return_url: str | None

    def __init__(self, *, platform: str, return_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store_arguments(platform=platform, return_url=return_url)

    @task_method
    def execute(self, context: Context) -> dict[str, Any]:
        """Create the link, push it to XCom, and wait for the user when asked to."""
        from airflow_provider_smartlyq.core.validation import short_token
        from airflow_provider_smartlyq.exceptions import SmartlyQError
        from airflow_provider_smartlyq.waits.connect_status import check_connect_link, normalize_account

        platform = self.checked("platform")
        return_url = self.checked("return_url")
        # The key varies per try on purpose: a retried or cleared task must create a NEW link
        # (the old one may have expired or been used already), while the hook's own HTTP
        # retries inside one try reuse the key, so a lost 201 never creates two links.
        key = task_idempotency_key(context, "connect")
        link = self.hook.create_connect_link(platform, return_url, idempotency_key=key)
        if not link.get("connect_url"):
            if isinstance(link.get("account"), dict):
                account = normalize_account(link["account"])
                self.log.info(
                    "SmartlyQ connected the %s account %s (id %s) at once; no link to approve",
                    platform,
                    account.get("name"),
                    account.get("id"),
                )
                return account
            raise SmartlyQError(
                f"SmartlyQ answered the {platform} connect request with neither a link nor an account"
            )
        state_token = link.get("state_token")
        ti = context["ti"]
        push_link(self, ti, SmartlyQConnectLink.xcom_key, link["connect_url"])
        ti.xcom_push(key="state_token", value=state_token)
        ti.xcom_push(key="expires_at", value=link.get("expires_at"))
        self.log.info(
            "Created a %s connect link (state %s), valid until %s. Send it to the user: it is on the "
            "task's 'SmartlyQ connect link' button and in XCom 'connect_url'.",
            platform,
            short_token(state_token),
            link.get("expires_at"),
        )
        if not self.wait_for_completion:
            return {
                "platform": link.get("platform", platform),
                "connect_url": link["connect_url"],
                "state_token": state_token,
                "expires_at": link.get("expires_at"),
            }
        if not state_token:
            raise SmartlyQError(
                "The connect link has no 'state' parameter, so its completion cannot be awaited; "
                "set wait_for_completion=False and follow up with SmartlyQConnectCompletedSensor"
            )
        event = self.wait(
            "ConnectCompletedTrigger",
            state_token,
            lambda pacer: check_connect_link(self.hook, state_token, self.log, pacer),
        )
        return self.execute_complete(context, event)

    @task_method
    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Return the connected account, or fail saying what to do next."""
        from airflow_provider_smartlyq.waits.connect_status import RERUN_CREATE, account_from_event

        restore_link(self, context["ti"], SmartlyQConnectLink.xcom_key)
        account = account_from_event(event, rerun_hint=RERUN_CREATE)
        self.log.info(
            "Connected %s account %s (id %s)", account.get("platform"), account.get("name"), account.get("id")
        )
        return account
