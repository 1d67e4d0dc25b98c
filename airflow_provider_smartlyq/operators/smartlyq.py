"""SmartlyQ operators: import them from here (each loads from its own module on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_smartlyq.core.surface import public_module

__getattr__, __dir__, __all__ = public_module(__name__)

# For type checkers and IDEs only: at run time each name loads on first access.
if TYPE_CHECKING:
    from airflow_provider_smartlyq.operators.accounts import (
        SmartlyQDisconnectAccountOperator as SmartlyQDisconnectAccountOperator,
    )
    from airflow_provider_smartlyq.operators.accounts import (
        SmartlyQListAccountsOperator as SmartlyQListAccountsOperator,
    )
    from airflow_provider_smartlyq.operators.accounts import (
        SmartlyQPauseAccountsOperator as SmartlyQPauseAccountsOperator,
    )
    from airflow_provider_smartlyq.operators.accounts import (
        SmartlyQReconnectUrlOperator as SmartlyQReconnectUrlOperator,
    )
    from airflow_provider_smartlyq.operators.accounts import (
        SmartlyQResumeAccountsOperator as SmartlyQResumeAccountsOperator,
    )
    from airflow_provider_smartlyq.operators.connect import (
        SmartlyQConnectAccountOperator as SmartlyQConnectAccountOperator,
    )
    from airflow_provider_smartlyq.operators.posts import (
        SmartlyQPublishPostOperator as SmartlyQPublishPostOperator,
    )
    from airflow_provider_smartlyq.operators.posts import (
        post_idempotency_key as post_idempotency_key,
    )
    from airflow_provider_smartlyq.operators.validate_post import (
        SmartlyQValidatePostOperator as SmartlyQValidatePostOperator,
    )
