"""
Dry-run a post before publishing it (free): the pre-flight task of a publishing DAG.

Import :class:`SmartlyQValidatePostOperator` from :mod:`airflow_provider_smartlyq.operators.smartlyq`.
The hook (and its HTTP libraries) is imported inside :meth:`~SmartlyQValidatePostOperator.execute`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq._tasks.selection import SELECTION_TEMPLATE_FIELDS
from airflow_provider_smartlyq._tasks.task import task_method
from airflow_provider_smartlyq.operators.posts import _PostOperator, platforms_and_ids

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

__all__ = ["SmartlyQValidatePostOperator"]


class SmartlyQValidatePostOperator(_PostOperator):
    """
    Dry-run a post for the selected accounts' platforms (free): fail with each platform's problems.

    Put it before :class:`~airflow_provider_smartlyq.operators.smartlyq.SmartlyQPublishPostOperator`
    with the same content, media and selection: SmartlyQ runs the checks its create path uses
    (characters over the platform's limit, media missing where required, unsupported media types)
    without creating or charging anything. Returns ``{valid, errors, platforms: {platform:
    {characters, limit, within_limit, requires_media, media_ok}}}``; an invalid post fails the
    task (without retries: the same content would fail again) listing every problem.

    :param content: The text. Templated.
    :param media_urls: Images or videos the post will carry. Templated.
    :param account_ids: Accounts the post will go to. Templated, like the next three.
    :param platforms: Select accounts on these platforms.
    :param account_name_pattern: Select accounts whose name matches this glob.
    :param all_accounts: Select every account (must be explicit).

    Like every SmartlyQ operator it takes ``smartlyq_conn_id``.
    """

    template_fields: Sequence[str] = ("content", "media_urls", *SELECTION_TEMPLATE_FIELDS)
    ui_color = "#fff4e0"

    @task_method
    def execute(self, context: Context) -> dict[str, Any]:
        """Validate for the selected accounts' platforms; fail listing the problems."""
        _, platforms = platforms_and_ids(self.select_accounts(self.hook)[1])
        return self.check_with_smartlyq(self.hook, platforms)
