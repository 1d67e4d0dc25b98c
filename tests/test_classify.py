"""The one error classification: real errors from the emulator, each judged once for everybody."""

from __future__ import annotations

import pytest

from airflow_provider_smartlyq._compat import AirflowNotFoundException
from airflow_provider_smartlyq.core.classify import (
    ErrorKind,
    classify_error,
    is_permanent,
    is_retryable,
    is_transient,
)
from airflow_provider_smartlyq.exceptions import (
    SmartlyQConfigurationError,
    SmartlyQError,
    SmartlyQPublishError,
    SmartlyQValidationError,
)
from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

HEALTH = "/v1/social/accounts/health"

# (status, code) injected on GET /social/accounts/health -> the kind every caller must see.
ANSWERS = [
    (400, "VALIDATION_ERROR", ErrorKind.PERMANENT),
    (401, "UNAUTHORIZED", ErrorKind.PERMANENT),
    (402, "INSUFFICIENT_BALANCE", ErrorKind.PERMANENT),
    (403, "FORBIDDEN", ErrorKind.PERMANENT),
    (404, "NOT_FOUND", ErrorKind.PERMANENT),
    (404, "NOT_ENABLED", ErrorKind.PERMANENT),
    (409, "DUPLICATE_CONTENT", ErrorKind.PERMANENT),
    (409, "IDEMPOTENCY_CONFLICT", ErrorKind.PERMANENT),
    (422, "VALIDATION_ERROR", ErrorKind.PERMANENT),
    (422, "UNSUPPORTED_PLATFORM", ErrorKind.PERMANENT),
    (429, "RATE_LIMIT_EXCEEDED", ErrorKind.RETRYABLE),
    (500, "INTERNAL_ERROR", ErrorKind.RETRYABLE),
    (502, "BAD_GATEWAY", ErrorKind.RETRYABLE),
    (503, "SERVICE_UNAVAILABLE", ErrorKind.RETRYABLE),
    (504, "GATEWAY_TIMEOUT", ErrorKind.RETRYABLE),
    (501, "NOT_IMPLEMENTED", ErrorKind.TRANSIENT),
]


@pytest.mark.parametrize(("status", "code", "kind"), ANSWERS, ids=[f"{s}-{c}" for s, c, _ in ANSWERS])
def test_each_answer_from_the_emulator_has_one_kind(smartlyq_conn, status, code, kind):
    smartlyq_conn.client.inject_fault(HEALTH, "GET", status=status, code=code)
    with SmartlyQHook(max_retries=0) as hook, pytest.raises(SmartlyQError) as info:
        hook.get_accounts_health()
    assert classify_error(info.value) is kind
    assert is_retryable(info.value) is (kind is ErrorKind.RETRYABLE)
    assert is_transient(info.value) is (kind is not ErrorKind.PERMANENT)
    assert is_permanent(info.value) is (kind is ErrorKind.PERMANENT)


def test_no_answer_at_all_is_retryable(smartlyq_conn):
    smartlyq_conn.client.inject_fault(HEALTH, "GET", drop_connection=True)
    with SmartlyQHook(max_retries=0) as hook, pytest.raises(SmartlyQError) as info:
        hook.get_accounts_health()
    assert classify_error(info.value) is ErrorKind.RETRYABLE


def test_a_garbled_success_is_retryable_but_a_garbled_error_is_not(smartlyq_conn):
    smartlyq_conn.client.inject_fault(HEALTH, "GET", status=200, body='{"success": tr')
    smartlyq_conn.client.inject_fault(HEALTH, "GET", status=422, body="<html>nope</html>")
    with SmartlyQHook(max_retries=0) as hook:
        with pytest.raises(SmartlyQError) as garbled_ok:
            hook.get_accounts_health()
        with pytest.raises(SmartlyQError) as garbled_error:
            hook.get_accounts_health()
    assert classify_error(garbled_ok.value) is ErrorKind.RETRYABLE
    assert classify_error(garbled_error.value) is ErrorKind.PERMANENT


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (SmartlyQValidationError.local("content must be non-empty text"), ErrorKind.PERMANENT),
        (SmartlyQConfigurationError("no API key"), ErrorKind.PERMANENT),
        (AirflowNotFoundException("The conn_id `smartlyq_missing` isn't defined"), ErrorKind.PERMANENT),
        (
            SmartlyQPublishError("failed", post_id=1, status="failed", errors={}, post_urls={}),
            ErrorKind.TRANSIENT,
        ),
        (
            SmartlyQPublishError("cancelled", post_id=1, status="cancelled", errors={}, post_urls={}),
            ErrorKind.PERMANENT,
        ),
        (SmartlyQError("the connect link expired"), ErrorKind.TRANSIENT),
        (ConnectionResetError("reset by peer"), ErrorKind.TRANSIENT),
        (TimeoutError(), ErrorKind.TRANSIENT),
        (KeyError("id"), ErrorKind.PERMANENT),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_errors_raised_without_an_answer(exc, kind):
    assert classify_error(exc) is kind


def test_an_error_that_states_its_kind_is_taken_at_its_word():
    exc = SmartlyQError("some writes failed")
    exc.error_kind = ErrorKind.PERMANENT  # type: ignore[attr-defined]
    assert classify_error(exc) is ErrorKind.PERMANENT


# -- the task plumbing: permanent errors fail now, as themselves -----------------------------


def test_a_permanent_error_is_raised_as_itself_and_as_airflow_fail_now():
    import pickle

    from airflow_provider_smartlyq._compat import AirflowFailException
    from airflow_provider_smartlyq._tasks.fail_fast import fail_fast
    from airflow_provider_smartlyq.exceptions import SmartlyQDuplicateContentError

    duplicate = SmartlyQDuplicateContentError(
        409, "DUPLICATE_CONTENT", "Identical content", details={"existing_post_id": 7}
    )

    @fail_fast
    def execute():
        raise duplicate

    with pytest.raises(SmartlyQDuplicateContentError) as info:
        execute()
    failed = info.value
    assert isinstance(failed, AirflowFailException)  # Airflow fails the task without retries
    assert failed.existing_post_id == 7
    assert failed.status_code == 409
    assert "allow_duplicates=True" in str(failed)
    assert "Not retried" in str(failed)
    assert failed.__cause__ is duplicate
    again = pickle.loads(pickle.dumps(failed))
    assert isinstance(again, SmartlyQDuplicateContentError)
    assert isinstance(again, AirflowFailException)
    assert again.existing_post_id == 7


@pytest.mark.parametrize(
    "exc",
    [
        SmartlyQError("the connect link expired"),  # transient: task retries apply
        KeyError("a bug"),  # not judged: Airflow's usual handling
    ],
    ids=["transient", "bug"],
)
def test_other_errors_pass_unchanged(exc):
    from airflow_provider_smartlyq._compat import AirflowFailException
    from airflow_provider_smartlyq._tasks.fail_fast import fail_fast

    @fail_fast
    def execute():
        raise exc

    with pytest.raises(type(exc)) as info:
        execute()
    assert info.value is exc
    assert not isinstance(info.value, AirflowFailException)


def test_a_batch_is_permanent_only_when_every_failure_is():
    from airflow_provider_smartlyq.exceptions import (
        SmartlyQAuthError,
        SmartlyQBatchError,
        SmartlyQServerError,
    )

    forbidden = SmartlyQAuthError(403, "FORBIDDEN", "no scope")
    busy = SmartlyQServerError(503, "SERVICE_UNAVAILABLE", "busy")
    assert classify_error(SmartlyQBatchError("x", errors=[forbidden, forbidden])) is ErrorKind.PERMANENT
    assert classify_error(SmartlyQBatchError("x", errors=[forbidden, busy])) is ErrorKind.TRANSIENT


def test_a_wait_that_its_trigger_ended_fails_now():
    from airflow_provider_smartlyq.exceptions import SmartlyQWaitError

    assert classify_error(SmartlyQWaitError("Waiting for post 5 failed: HTTP 401")) is ErrorKind.PERMANENT
