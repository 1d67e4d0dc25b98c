"""Extra links shown on SmartlyQ task instances in the Airflow UI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


#: Attribute of a task holding the link values it pushed while running in this process.
_PUSHED_ATTR = "_smartlyq_pushed_links"


def push_link(task: Any, ti: Any, key: str, value: Any) -> None:
    """Push ``value`` to XCom ``key`` and remember it on ``task`` for its extra link button."""
    ti.xcom_push(key=key, value=value)
    pushed = getattr(task, _PUSHED_ATTR, None)
    if pushed is None:
        pushed = {}
        setattr(task, _PUSHED_ATTR, pushed)
    pushed[key] = value


def restore_link(task: Any, ti: Any, key: str) -> None:
    """
    Remember, for the extra link, the value this task pushed to ``key`` before it deferred.

    A deferred task resumes in a new process, which has not pushed anything; Airflow then stores
    each extra link's answer under its XCom key when the task ends, and an empty answer there
    would overwrite the URL pushed before the deferral. The value is known to exist, so reading
    it logs no "XCom not found".
    """
    pushed = getattr(task, _PUSHED_ATTR, None) or {}
    if key not in pushed:
        value = ti.xcom_pull(key=key)
        if value is not None:
            pushed[key] = value
            setattr(task, _PUSHED_ATTR, pushed)


class _XComLink(BaseOperatorLink):
    """
    Link to a URL the task pushed to XCom under :attr:`xcom_key` (empty until it has).

    Only an absolute http(s) URL becomes the button's ``href``: XCom can be written by other
    tasks and the API, and a ``javascript:`` URL there must not become a clickable link.
    """

    name: ClassVar[str]
    xcom_key: ClassVar[str]

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        # Airflow calls this when the task finishes or defers, in the task's own process, and
        # stores the answer for the UI. Reading an XCom that was never pushed logs an
        # error-level "XCom not found" there, a false alarm on every healthy run, so the link
        # comes from what this task pushed in this process (see push_link) and nothing else.
        from airflow_provider_smartlyq.core.validation import server_url

        pushed: dict[str, Any] = getattr(operator, _PUSHED_ATTR, None) or {}
        return server_url(pushed.get(self.xcom_key)) or ""


class SmartlyQConnectLink(_XComLink):
    """The single-use OAuth link a connect task created (XCom ``connect_url``)."""

    name = "SmartlyQ connect link"
    xcom_key = "connect_url"


class SmartlyQReconnectLink(_XComLink):
    """The first re-authorisation link a reconnect task produced (XCom ``first_reconnect_url``)."""

    name = "SmartlyQ reconnect link"
    xcom_key = "first_reconnect_url"


class SmartlyQPostLink(_XComLink):
    """The first published URL of a post (XCom ``post_url``)."""

    name = "SmartlyQ post"
    xcom_key = "post_url"
