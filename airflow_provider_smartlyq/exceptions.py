"""
Typed errors raised by the SmartlyQ provider.

Every error the API can answer maps to one class, chosen by HTTP status first and by the
error ``code`` second (SmartlyQ's own sources spell the codes differently, the statuses never).
Messages name the method, path, status, code and request id, so that a task log tells what
failed without a debugger, and never the API key.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_smartlyq._compat import AirflowException

__all__ = [
    "SmartlyQAPIError",
    "SmartlyQAuthError",
    "SmartlyQBatchError",
    "SmartlyQConfigurationError",
    "SmartlyQConflictError",
    "SmartlyQConnectionError",
    "SmartlyQDuplicateContentError",
    "SmartlyQError",
    "SmartlyQIdempotencyConflictError",
    "SmartlyQInsufficientBalanceError",
    "SmartlyQNotEnabledError",
    "SmartlyQNotFoundError",
    "SmartlyQProviderNotConfiguredError",
    "SmartlyQPublishError",
    "SmartlyQRateLimitError",
    "SmartlyQServerError",
    "SmartlyQSignatureError",
    "SmartlyQUnsupportedPlatformError",
    "SmartlyQValidationError",
    "SmartlyQWaitError",
    "SmartlyQWatcherStoppedError",
]


class SmartlyQError(AirflowException):
    """Base class of every error raised by the SmartlyQ provider."""


class SmartlyQConnectionError(SmartlyQError):
    """
    Raise when SmartlyQ could not be reached, after the hook's retries.

    Covers refused and dropped connections and timeouts: no HTTP answer arrived at all.
    """

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.path = path


class SmartlyQPublishError(SmartlyQError):
    """
    Raise when a post ended failed, cancelled, or partially published (with ``fail_on_partial``).

    SmartlyQ accepted the request; publishing itself went wrong on some or all platforms.

    :param message: What happened, listing each platform's error.
    :param post_id: The post.
    :param status: ``failed``, ``partially_published``, ``cancelled``...
    :param errors: Failure reason per platform (``_post`` for a whole-post failure).
    :param post_urls: Permalinks per platform of what did publish.
    """

    def __init__(
        self,
        message: str,
        *,
        post_id: Any,
        status: str,
        errors: dict[str, str],
        post_urls: dict[str, list[str]],
    ) -> None:
        super().__init__(message)
        self.post_id = post_id
        self.status = status
        self.errors = errors
        self.post_urls = post_urls

    def __reduce__(self):  # keep the keyword-only fields when pickled
        fields = {"post_id": self.post_id, "status": self.status, "errors": self.errors}
        return _rebuild_publish_error, (type(self), self.args[0], {**fields, "post_urls": self.post_urls})


def _rebuild_publish_error(cls, message, kwargs):
    return cls(message, **kwargs)


class SmartlyQConfigurationError(SmartlyQError):
    """Raise when the Airflow connection cannot be used (no API key, bad base URL or extras)."""


class SmartlyQSignatureError(SmartlyQError):
    """Raise when a webhook delivery's ``X-SmartlyQ-Signature`` does not verify."""


class SmartlyQWatcherStoppedError(SmartlyQError):
    """
    Raise when an account-health watcher gives up after repeated permanent errors.

    Raised by :class:`~airflow_provider_smartlyq.triggers.smartlyq.AccountHealthEventTrigger`
    after ``max_consecutive_failures`` permanent errors in a row (bad key, missing scope, missing
    or unusable connection); the message names the connection and the last error.
    """


class SmartlyQWaitError(SmartlyQError):
    """
    Raise when a wait in the triggerer stopped on an error that waiting cannot fix.

    Triggers poll through transient errors (no answer, 429, 5xx) and end only on permanent ones
    (bad key, missing scope, the post or link no longer exists), so this error is permanent too:
    the task fails without retries. The message carries the trigger's description of the error.
    """


class SmartlyQBatchError(SmartlyQError):
    """
    Raise when some writes of a multi-account operator failed (the others went through).

    :param message: Which accounts failed and why, and what the others did.
    :param errors: The error of each failed write. The batch is permanent (no task retry) only
        when every one of them is: a retry then could not succeed for any account.
    """

    def __init__(self, message: str, *, errors: list[BaseException]) -> None:
        super().__init__(message)
        self.errors = list(errors)

    def __reduce__(self):  # keep the keyword-only field when pickled
        return _rebuild_batch_error, (type(self), self.args[0], self.errors)


def _rebuild_batch_error(cls, message, errors):
    return cls(message, errors=errors)


class SmartlyQAPIError(SmartlyQError):
    """
    Raise when SmartlyQ answers with an error envelope or an unusable body.

    :param status_code: HTTP status of the answer.
    :param code: SmartlyQ's error code (``error.code``), ``None`` when the body had none.
    :param message: SmartlyQ's error message, or a description of the unusable body.
    :param details: ``error.details`` as sent, or ``None``.
    :param request_id: ``meta.request_id`` (or the ``X-Request-Id`` header), when present.
    :param method: HTTP method of the failed call.
    :param path: API path of the failed call, relative to the base URL.
    :param retry_after: Seconds the answer's ``Retry-After`` header asked to wait (429, 503),
        ``None`` when it sent none.
    """

    def __init__(
        self,
        status_code: int,
        code: str | None,
        message: str,
        *,
        details: Any = None,
        request_id: str | None = None,
        method: str = "",
        path: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.status_code = status_code  # type: ignore[assignment]  # AirflowException says HTTPStatus
        self.code = code
        self.message = message
        self.details = details
        self.request_id = request_id
        self.method = method
        self.path = path
        self.retry_after = retry_after
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"{self.method} {self.path}".strip() or "SmartlyQ request"
        return (
            f"{where} failed: HTTP {self.status_code}, code {self.code or '-'}, "
            f"request id {self.request_id or '-'}: {self.message}"
        )

    def __reduce__(self):  # keep the keyword-only fields when pickled (XCom, subprocesses)
        return (
            _rebuild_api_error,
            (
                type(self),
                self.status_code,
                self.code,
                self.message,
                {
                    "details": self.details,
                    "request_id": self.request_id,
                    "method": self.method,
                    "path": self.path,
                    "retry_after": self.retry_after,
                },
            ),
        )


def _rebuild_api_error(cls, status_code, code, message, kwargs):
    return cls(status_code, code, message, **kwargs)


class SmartlyQAuthError(SmartlyQAPIError):
    """Raise on 401 (bad or missing API key) and 403 (the key lacks the scope)."""


class SmartlyQNotFoundError(SmartlyQAPIError):
    """Raise on 404: the account, state token or post does not exist (for this profile)."""


class SmartlyQNotEnabledError(SmartlyQNotFoundError):
    """Raise on 404 ``NOT_ENABLED``: headless connect is switched off for this SmartlyQ instance."""


class SmartlyQValidationError(SmartlyQAPIError):
    """
    Raise on 400/422, or on bad input caught before any request is sent.

    Errors caught locally carry ``status_code`` 0 and code ``LOCAL_VALIDATION``.
    """

    @classmethod
    def local(cls, message: str, *, method: str = "", path: str = "") -> SmartlyQValidationError:
        """Build the error for bad input found before sending anything."""
        return cls(0, "LOCAL_VALIDATION", message, method=method, path=path)

    def _describe(self) -> str:
        if self.status_code == 0:
            return f"Invalid input, nothing was sent to SmartlyQ: {self.message}"
        return super()._describe()


class SmartlyQUnsupportedPlatformError(SmartlyQValidationError):
    """Raise on 422 ``UNSUPPORTED_PLATFORM``; ``supported_platforms`` lists the accepted names."""

    @property
    def supported_platforms(self) -> list[str]:
        details = self.details
        if isinstance(details, dict):
            for key in ("supported_platforms", "supported", "platforms"):
                value = details.get(key)
                if isinstance(value, list):
                    return [str(item) for item in value]
        if isinstance(details, list):
            return [str(item) for item in details]
        return []

    def _describe(self) -> str:
        supported = ", ".join(self.supported_platforms) or "unknown"
        return f"{super()._describe()} (supported platforms: {supported})"


class SmartlyQProviderNotConfiguredError(SmartlyQValidationError):
    """Raise on 422 ``PROVIDER_NOT_CONFIGURED``: the instance has no OAuth app for the platform."""


class SmartlyQInsufficientBalanceError(SmartlyQAPIError):
    """Raise on 402: the workspace has run out of credits."""


class SmartlyQConflictError(SmartlyQAPIError):
    """Raise on 409 with a code other than the specific ones below."""


class SmartlyQDuplicateContentError(SmartlyQConflictError):
    """
    Raise on 409 ``DUPLICATE_CONTENT``: the same text went to SmartlyQ within the last 24 hours.

    ``existing_post_id`` names the earlier post (``None`` when SmartlyQ did not say). The
    message says what to do: make the text unique per run, or pass ``allow_duplicates=True``.
    """

    @property
    def existing_post_id(self) -> int | None:
        """Return the id of the earlier post with the same content, when SmartlyQ sent it."""
        if isinstance(self.details, dict):
            value = self.details.get("existing_post_id")
            if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
                return int(value)
        return None

    def _describe(self) -> str:
        earlier = f"post {self.existing_post_id}" if self.existing_post_id is not None else "an earlier post"
        return (
            f"{super()._describe()}. The same text was posted within 24 hours ({earlier}, "
            "existing_post_id). For a post that repeats daily, make the text unique per run "
            "(e.g. add the date: {{ ds }}), or pass allow_duplicates=True to publish the same text "
            "again on purpose."
        )


class SmartlyQIdempotencyConflictError(SmartlyQConflictError):
    """Raise on 409 ``IDEMPOTENCY_CONFLICT``: the key was used before with a different body."""


class SmartlyQRateLimitError(SmartlyQAPIError):
    """
    Raise on 429 once the hook's retries are spent; ``retry_after`` is in seconds.

    Also raised, with ``status_code`` 0 and code ``BUDGET_EXHAUSTED``, when the key's shared
    request budget would not allow the request within the connection's ``budget_max_wait`` or
    a trigger's deadline: nothing was sent. Waits treat both as transient.
    """

    @classmethod
    def budget_exhausted(cls, message: str, *, retry_after: float | None = None) -> SmartlyQRateLimitError:
        """Build the error for a request that found no budget in time (nothing was sent)."""
        return cls(0, "BUDGET_EXHAUSTED", message, retry_after=retry_after)

    def _describe(self) -> str:
        if self.status_code == 0:
            return self.message
        return super()._describe()


class SmartlyQServerError(SmartlyQAPIError):
    """Raise on 5xx once the hook's retries are spent, also when the body was not JSON."""
