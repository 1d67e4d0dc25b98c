"""The typed errors: hierarchy, messages that tell what failed, pickling (XCom, subprocesses)."""

from __future__ import annotations

import pickle

import pytest

from airflow_provider_smartlyq import exceptions as exc_module
from airflow_provider_smartlyq._compat import AirflowException
from airflow_provider_smartlyq.exceptions import (
    SmartlyQAPIError,
    SmartlyQAuthError,
    SmartlyQConfigurationError,
    SmartlyQConflictError,
    SmartlyQConnectionError,
    SmartlyQDuplicateContentError,
    SmartlyQError,
    SmartlyQIdempotencyConflictError,
    SmartlyQInsufficientBalanceError,
    SmartlyQNotEnabledError,
    SmartlyQNotFoundError,
    SmartlyQProviderNotConfiguredError,
    SmartlyQRateLimitError,
    SmartlyQServerError,
    SmartlyQSignatureError,
    SmartlyQUnsupportedPlatformError,
    SmartlyQValidationError,
)

API_ERRORS = [
    SmartlyQAPIError,
    SmartlyQAuthError,
    SmartlyQNotFoundError,
    SmartlyQNotEnabledError,
    SmartlyQValidationError,
    SmartlyQUnsupportedPlatformError,
    SmartlyQProviderNotConfiguredError,
    SmartlyQInsufficientBalanceError,
    SmartlyQConflictError,
    SmartlyQDuplicateContentError,
    SmartlyQIdempotencyConflictError,
    SmartlyQRateLimitError,
    SmartlyQServerError,
]


def test_every_exported_error_is_an_airflow_exception():
    for name in exc_module.__all__:
        cls = getattr(exc_module, name)
        assert issubclass(cls, SmartlyQError)
        assert issubclass(cls, AirflowException)


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (SmartlyQNotEnabledError, SmartlyQNotFoundError),
        (SmartlyQUnsupportedPlatformError, SmartlyQValidationError),
        (SmartlyQProviderNotConfiguredError, SmartlyQValidationError),
        (SmartlyQDuplicateContentError, SmartlyQConflictError),
        (SmartlyQIdempotencyConflictError, SmartlyQConflictError),
        (SmartlyQRateLimitError, SmartlyQAPIError),
        (SmartlyQServerError, SmartlyQAPIError),
    ],
)
def test_hierarchy_lets_callers_catch_broadly(child, parent):
    assert issubclass(child, parent)


@pytest.mark.parametrize(
    "unrelated", [SmartlyQConnectionError, SmartlyQConfigurationError, SmartlyQSignatureError]
)
def test_non_api_errors_are_not_api_errors(unrelated):
    assert not issubclass(unrelated, SmartlyQAPIError)


def test_message_names_method_path_status_code_and_request_id():
    error = SmartlyQNotFoundError(
        404,
        "RESOURCE_NOT_FOUND",
        "Social account not found.",
        request_id="req_abc",
        method="GET",
        path="/social/accounts/9/health",
    )

    assert str(error) == (
        "GET /social/accounts/9/health failed: HTTP 404, code RESOURCE_NOT_FOUND, "
        "request id req_abc: Social account not found."
    )
    assert error.status_code == 404


def test_message_without_code_or_request_id():
    assert str(SmartlyQServerError(502, None, "no body")) == (
        "SmartlyQ request failed: HTTP 502, code -, request id -: no body"
    )


def test_local_validation_error():
    error = SmartlyQValidationError.local("platform must be ...")

    assert (error.status_code, error.code) == (0, "LOCAL_VALIDATION")
    assert str(error) == "Invalid input, nothing was sent to SmartlyQ: platform must be ..."


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        ({"supported_platforms": ["facebook", "x"]}, ["facebook", "x"]),
        ({"supported": ["a"]}, ["a"]),
        ({"platforms": ["b", 3]}, ["b", "3"]),
        (["c"], ["c"]),
        (None, []),
        ({"other": 1}, []),
    ],
)
def test_supported_platforms(details, expected):
    error = SmartlyQUnsupportedPlatformError(422, "UNSUPPORTED_PLATFORM", "nope", details=details)

    assert error.supported_platforms == expected
    assert f"(supported platforms: {', '.join(expected) or 'unknown'})" in str(error)


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        ({"existing_post_id": 77}, 77),
        ({"existing_post_id": "78"}, 78),
        ({"existing_post_id": "x"}, None),
        (None, None),
    ],
)
def test_existing_post_id(details, expected):
    assert (
        SmartlyQDuplicateContentError(409, "DUPLICATE_CONTENT", "dup", details=details).existing_post_id
        == expected
    )


@pytest.mark.parametrize("cls", API_ERRORS)
def test_api_errors_pickle_with_every_field(cls):
    kwargs = {
        "details": {"k": [1]},
        "request_id": "req_1",
        "method": "POST",
        "path": "/social/connect/x",
        "retry_after": 3.0,
    }
    error = cls(429, "SOME_CODE", "went wrong", **kwargs)

    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is cls
    assert str(copy) == str(error)
    for field in ("status_code", "code", "message", "details", "request_id", "method", "path", "retry_after"):
        assert getattr(copy, field) == getattr(error, field)


def test_connection_error_pickles_with_method_and_path():
    error = SmartlyQConnectionError("GET /me: no answer", method="GET", path="/me")

    copy = pickle.loads(pickle.dumps(error))

    assert (str(copy), copy.method, copy.path) == ("GET /me: no answer", "GET", "/me")
