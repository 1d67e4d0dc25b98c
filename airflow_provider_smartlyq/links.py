"""Extra links shown on SmartlyQ task instances in the Airflow UI."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from airflow.sdk import BaseOperatorLink

from airflow_provider_smartlyq.validation import server_url

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


class _XComLink(BaseOperatorLink):
    """
    Link to a URL the task pushed to XCom under :attr:`xcom_key` (empty until it has).

    Only an absolute http(s) URL becomes the button's ``href``: XCom can be written by other
    tasks and the API, and a ``javascript:`` URL there must not become a clickable link.
    """

    name: ClassVar[str]
    xcom_key: ClassVar[str]

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        value = XCom.get_value(key=self.xcom_key, ti_key=ti_key)
        return server_url(value) or ""


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
