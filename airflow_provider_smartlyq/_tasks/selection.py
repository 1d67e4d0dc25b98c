"""
Share the account-selector arguments between operators and sensors.

Operators and sensors acting on several accounts take ``account_ids``, ``platforms``,
``account_name_pattern`` and ``all_accounts`` as template fields, so a brand can come from
``params`` or XCom. :class:`AccountSelectionMixin` stores them, checks them at parse time when
nothing is templated (a DAG with no criterion fails to import rather than at 22:00), and builds
the :class:`~airflow_provider_smartlyq.core.selector.AccountSelector` at execute time, after
rendering. Only the standard library is imported when a DAG file is parsed; the selector
loads when a selection is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_smartlyq.core.selector import AccountSelector
    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

#: Template fields every selector-taking operator or sensor declares (add its own after these).
SELECTION_TEMPLATE_FIELDS: tuple[str, ...] = (
    "account_ids",
    "platforms",
    "account_name_pattern",
    "all_accounts",
)


def is_templated(value: Any) -> bool:
    """Return whether ``value`` may still change at render time (Jinja text, XComArg, ...)."""
    if value is None or isinstance(value, (bool, int)):
        return False
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, (list, tuple)):
        return any(is_templated(item) for item in value)
    return True  # XComArg, Param references and anything else Airflow resolves later


def build_selector(
    account_ids: Any = None,
    platforms: Any = None,
    account_name_pattern: Any = None,
    all_accounts: Any = False,
) -> AccountSelector:
    """
    Build an :class:`AccountSelector` from rendered template values.

    :raises SmartlyQValidationError: no criterion without ``all_accounts=True``, or a bad value.
    """
    from airflow_provider_smartlyq.core.selector import AccountSelector
    from airflow_provider_smartlyq.core.values import parse_bool

    pattern = account_name_pattern.strip() if isinstance(account_name_pattern, str) else account_name_pattern
    return AccountSelector.build(
        account_ids=account_ids,
        platforms=platforms,
        account_name_pattern=pattern,
        all_accounts=parse_bool(all_accounts, "all_accounts", default=False),
    )


class AccountSelectionMixin:
    """
    Store the selector arguments of an operator or sensor and build the selector after rendering.

    Use with ``BaseOperator`` or ``BaseSensorOperator``; declare
    ``template_fields = (*SELECTION_TEMPLATE_FIELDS, ...)`` and call :meth:`_init_selection`
    from ``__init__``.
    """

    account_ids: Any
    platforms: Any
    account_name_pattern: Any
    all_accounts: Any

    def _init_selection(self, *criteria: Any) -> None:
        """
        Store the selector arguments, given in :data:`SELECTION_TEMPLATE_FIELDS` order.

        They are validated now when none of them is templated.
        """
        for name, value in zip(SELECTION_TEMPLATE_FIELDS, criteria, strict=True):
            setattr(self, name, value)
        if not any(is_templated(value) for value in criteria):
            build_selector(*criteria)  # fail at parse time, not at the first scheduled run

    def build_selector(self) -> AccountSelector:
        """Return the selector from the rendered arguments."""
        return build_selector(*(getattr(self, name) for name in SELECTION_TEMPLATE_FIELDS))

    def select_accounts(self, hook: SmartlyQHook) -> tuple[AccountSelector, list[dict[str, Any]]]:
        """
        Return the selector and the accounts it selects, resolved with one ``list_accounts`` call.

        The selector is built first, so bad input fails before any request.

        :raises SmartlyQValidationError: a bad criterion, an id that does not exist, or nothing matched.
        """
        selector = self.build_selector()
        return selector, selector.select(hook.list_accounts())
