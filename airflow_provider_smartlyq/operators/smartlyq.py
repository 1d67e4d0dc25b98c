"""
SmartlyQ operators.

Import them from here; each is defined in a small module of its own and loaded on first use.
"""

from __future__ import annotations

from airflow_provider_smartlyq._lazy import lazy_exports

_EXPORTS = {
    "SmartlyQConnectAccountOperator": ".connect",
    "SmartlyQPauseAccountsOperator": ".accounts",
    "SmartlyQResumeAccountsOperator": ".accounts",
    "SmartlyQDisconnectAccountOperator": ".accounts",
    "SmartlyQReconnectUrlOperator": ".accounts",
    "SmartlyQListAccountsOperator": ".accounts",
    "SmartlyQPublishPostOperator": ".posts",
    "SmartlyQValidatePostOperator": ".validate_post",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports("airflow_provider_smartlyq.operators", _EXPORTS)
