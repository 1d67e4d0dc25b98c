"""
SmartlyQ operators.

Import them from here; each is defined in a small module of its own and loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_smartlyq.core.lazy import lazy_exports

_EXPORTS = {
    "SmartlyQConnectAccountOperator": ".connect",
    "SmartlyQPauseAccountsOperator": ".accounts",
    "SmartlyQResumeAccountsOperator": ".accounts",
    "SmartlyQDisconnectAccountOperator": ".accounts",
    "SmartlyQReconnectUrlOperator": ".accounts",
    "SmartlyQListAccountsOperator": ".accounts",
    "SmartlyQPublishPostOperator": ".posts",
    "SmartlyQValidatePostOperator": ".validate_post",
    "post_idempotency_key": ".posts",
}
__all__ = [
    "SmartlyQConnectAccountOperator",
    "SmartlyQDisconnectAccountOperator",
    "SmartlyQListAccountsOperator",
    "SmartlyQPauseAccountsOperator",
    "SmartlyQPublishPostOperator",
    "SmartlyQReconnectUrlOperator",
    "SmartlyQResumeAccountsOperator",
    "SmartlyQValidatePostOperator",
    "post_idempotency_key",
]
__getattr__, __dir__ = lazy_exports("airflow_provider_smartlyq.operators", _EXPORTS)

# For type checkers and IDEs only: at run time each name loads on first access.
if TYPE_CHECKING:
    from airflow_provider_smartlyq.operators.accounts import (
        SmartlyQDisconnectAccountOperator,
        SmartlyQListAccountsOperator,
        SmartlyQPauseAccountsOperator,
        SmartlyQReconnectUrlOperator,
        SmartlyQResumeAccountsOperator,
    )
    from airflow_provider_smartlyq.operators.connect import SmartlyQConnectAccountOperator
    from airflow_provider_smartlyq.operators.posts import SmartlyQPublishPostOperator, post_idempotency_key
    from airflow_provider_smartlyq.operators.validate_post import SmartlyQValidatePostOperator
