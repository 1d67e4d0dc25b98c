"""
Dry-run a post before publishing it (free): the pre-flight task of a publishing DAG.

Import :class:`SmartlyQValidatePostOperator` from :mod:`airflow_provider_smartlyq.operators.smartlyq`.
The hook (and its HTTP libraries) is imported inside :meth:`~SmartlyQValidatePostOperator.execute`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_smartlyq._compat import AirflowFailException
from airflow_provider_smartlyq._task import SmartlyQTaskMixin, task_method
from airflow_provider_smartlyq.operators._selection import (
    SELECTION_TEMPLATE_FIELDS,
    AccountSelectionMixin,
    select_accounts,
)
from airflow_provider_smartlyq.operators.posts import check_literal_content, platforms_and_ids
from airflow_provider_smartlyq.values import parse_list

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.sdk import Context

__all__ = ["SmartlyQValidatePostOperator"]


def _problems(report: Mapping[str, Any]) -> list[str]:
    """Return SmartlyQ's ``errors``, or ones built from the per-platform rows when it sent none."""
    if errors := [str(e) for e in report.get("errors") or []]:
        return errors
    problems = []
    for platform, row in sorted(dict(report.get("platforms") or {}).items()):
        if not row.get("within_limit", True):
            problems.append(f"{platform}: {row.get('characters')} characters, limit {row.get('limit')}")
        if not row.get("media_ok", True):
            problems.append(f"{platform}: media missing or of an unsupported type")
    return problems or ["SmartlyQ reported the post invalid without saying why"]


def judge_report(report: Mapping[str, Any], platforms: list[str], log: Any) -> dict[str, Any]:
    """
    Log a validation report per platform; return it when valid, else fail listing every problem.

    Shared by :class:`SmartlyQValidatePostOperator` and the publish operator's ``validate_first``.

    :raises AirflowFailException: the post does not pass (no task retry: the same content would
        fail again).
    """
    rows = report.get("platforms") or {}
    for platform in platforms:
        row = rows.get(platform) or {}
        log.info(
            "%s: %s characters (limit %s), media %s",
            platform,
            row.get("characters"),
            row.get("limit") if row.get("limit") is not None else "none",
            "ok" if row.get("media_ok", True) else "MISSING",
        )
    if report.get("valid"):
        log.info("The post passes SmartlyQ's checks for %s", ", ".join(platforms))
        return dict(report)
    raise AirflowFailException(
        "The post does not pass SmartlyQ's checks:\n" + "\n".join(f"  - {p}" for p in _problems(report))
    )


class SmartlyQValidatePostOperator(AccountSelectionMixin, SmartlyQTaskMixin, BaseOperator):
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
    :param smartlyq_conn_id: The Airflow connection to use.
    """

    template_fields: Sequence[str] = ("content", "media_urls", *SELECTION_TEMPLATE_FIELDS)
    ui_color = "#fff4e0"

    def __init__(
        self,
        *,
        content: str,
        media_urls: str | list[str] | None = None,
        account_ids: Any = None,
        platforms: Any = None,
        account_name_pattern: str | None = None,
        all_accounts: Any = False,
        smartlyq_conn_id: str = "smartlyq_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._init_selection(account_ids, platforms, account_name_pattern, all_accounts)
        check_literal_content(content)
        self.content = content
        self.media_urls = media_urls
        self.smartlyq_conn_id = smartlyq_conn_id

    @task_method
    def execute(self, context: Context) -> dict[str, Any]:
        """Validate for the selected accounts' platforms; fail listing the problems."""
        selector = self.build_selector()
        _, platforms = platforms_and_ids(select_accounts(self.hook, selector))
        # A list param renders as its repr ("['https://...']"): read it back as a list.
        media_urls = parse_list(self.media_urls, split=False) or None
        report = self.hook.validate_post(self.content, platforms, media_urls)
        return judge_report(report, platforms, self.log)
