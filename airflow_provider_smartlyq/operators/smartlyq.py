"""SmartlyQ operators: import them from here (each loads from its own module on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_smartlyq.core.surface import public_module

__getattr__, __dir__, __all__ = public_module(__name__)

# For type checkers and IDEs only: at run time each name loads on first access. ``X as X``
# marks each as exported, for type checkers that do not re-export implicitly (__all__ is computed).
if TYPE_CHECKING:
    from airflow_provider_smartlyq.operators.accounts import (
        SmartlyQDisconnectAccountOperator as SmartlyQDisconnectAccountOperator,
        SmartlyQListAccountsOperator as SmartlyQListAccountsOperator,
        SmartlyQPauseAccountsOperator as SmartlyQPauseAccountsOperator,
        SmartlyQReconnectUrlOperator as SmartlyQReconnectUrlOperator,
        SmartlyQResumeAccountsOperator as SmartlyQResumeAccountsOperator,
    )
    from airflow_provider_smartlyq.operators.connect import (
        SmartlyQConnectAccountOperator as SmartlyQConnectAccountOperator,
    )
    from airflow_provider_smartlyq.operators.posts import (
        SmartlyQPublishPostOperator as SmartlyQPublishPostOperator,
        post_idempotency_key as post_idempotency_key,
    )
    from airflow_provider_smartlyq.operators.validate_post import (
        SmartlyQValidatePostOperator as SmartlyQValidatePostOperator,
    )
