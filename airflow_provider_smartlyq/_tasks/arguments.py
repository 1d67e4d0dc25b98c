"""
The checks of the tasks' own arguments, each written once for parse time and run time.

The one rule for a task argument: a literal mistake fails when the DAG file is parsed; a
templated value renders only when the task runs, where it is read through the same check.
A task names its checks in ``argument_checks`` (attribute -> check), stores its arguments with
:meth:`~airflow_provider_smartlyq._tasks.task.SmartlyQTaskMixin.store_arguments` and reads a
rendered one with :meth:`~airflow_provider_smartlyq._tasks.task.SmartlyQTaskMixin.checked`.

A check returns the value to use (``x`` -> ``twitter``) or raises
:class:`~airflow_provider_smartlyq.exceptions.SmartlyQValidationError`. Each imports the rule it
applies where that rule lives (``core.validation``, ``core.values``) when first called, so
that DAG files parse with nothing loaded but the standard library and ``airflow.sdk``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "account_id",
    "confirmation",
    "flag",
    "idempotency_key",
    "platform",
    "post_id",
    "return_url",
    "state_token",
]


def platform(value: Any) -> str:
    """A platform name or alias, as SmartlyQ names it."""
    from airflow_provider_smartlyq.core.validation import normalize_platform

    return normalize_platform(value)


def return_url(value: Any) -> str | None:
    """An absolute https URL (http for localhost), or none (a template may render ``""``)."""
    from airflow_provider_smartlyq.core.validation import validate_return_url

    return validate_return_url(value or None)


def account_id(value: Any) -> int:
    """A SmartlyQ account id."""
    from airflow_provider_smartlyq.core.validation import validate_account_id

    return validate_account_id(value)


def post_id(value: Any) -> int:
    """A SmartlyQ post id."""
    from airflow_provider_smartlyq.core.validation import validate_account_id

    return validate_account_id(value, name="post_id")


def state_token(value: Any) -> str:
    """A connect link's state token."""
    from airflow_provider_smartlyq.core.validation import validate_state_token

    return validate_state_token(value)


def idempotency_key(value: Any) -> str | None:
    """An ``X-Idempotency-Key`` of the user's, or none (the task derives one)."""
    from airflow_provider_smartlyq.core.validation import validate_idempotency_key

    return None if value in (None, "") else validate_idempotency_key(value)


def confirmation(value: Any) -> str:
    """The account name a destructive operator must be given, as a guard against a wrong id."""
    from airflow_provider_smartlyq.exceptions import SmartlyQValidationError

    if not isinstance(value, str) or not value.strip():
        raise SmartlyQValidationError.local(
            "confirm_account_name must be the account's current name (a non-empty string)"
        )
    return value.strip()


def flag(name: str, default: bool) -> Callable[[Any], bool]:
    """Return the check of the bool argument ``name`` (a literal, or the text it rendered to)."""

    def read(value: Any) -> bool:
        from airflow_provider_smartlyq.core.values import parse_bool

        return parse_bool(value, name, default=default)

    return read
