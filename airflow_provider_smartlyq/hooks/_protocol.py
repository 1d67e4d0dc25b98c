"""
SmartlyQ's wire protocol, shared by the sync and async paths.

One definition of what a request is, how an answer becomes data or a typed error, and when a
failure is retried and after how long. The two transports (``requests`` and ``aiohttp``) only
move bytes; everything that decides lives here, so the two paths cannot drift apart.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol

from tenacity import retry_if_exception, stop_after_attempt, wait_random_exponential
from tenacity.stop import stop_base

# Which failures are sent again is the provider-wide rule in classify.py.
from airflow_provider_smartlyq.core.classify import is_retryable
from airflow_provider_smartlyq.core.validation import validate_idempotency_key
from airflow_provider_smartlyq.exceptions import (
    SmartlyQAPIError,
    SmartlyQAuthError,
    SmartlyQConflictError,
    SmartlyQDuplicateContentError,
    SmartlyQIdempotencyConflictError,
    SmartlyQInsufficientBalanceError,
    SmartlyQNotEnabledError,
    SmartlyQNotFoundError,
    SmartlyQProviderNotConfiguredError,
    SmartlyQRateLimitError,
    SmartlyQServerError,
    SmartlyQUnsupportedPlatformError,
    SmartlyQValidationError,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tenacity import RetryCallState

    from airflow_provider_smartlyq.hooks._settings import ConnectionSettings


class LoggerLike(Protocol):
    """What the transports need of a logger (stdlib and Airflow's structlog loggers both fit)."""

    def debug(self, event: Any, *args: Any, **kw: Any) -> Any: ...
    def warning(self, event: Any, *args: Any, **kw: Any) -> Any: ...


#: Never wait longer than this for one ``Retry-After``: a task should fail, not hang for hours.
MAX_RETRY_AFTER = 120.0
#: Methods that change state: they always carry an idempotency key, so a retry cannot act twice.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class ApiRequest:
    """One logical API call; its idempotency key stays the same across retries."""

    method: str
    path: str
    json: Any = None
    params: Mapping[str, Any] | None = None
    idempotency_key: str | None = None
    #: What logs and errors show instead of ``path`` when the path holds a secret (a state token).
    redacted_path: str | None = None

    @property
    def log_path(self) -> str:
        """Return the path as logs and error messages may show it."""
        return self.redacted_path or self.path

    def redact(self, text: str) -> str:
        """Return ``text`` with the real path replaced by :attr:`log_path`."""
        return text.replace(self.path, self.log_path) if self.redacted_path else text

    @classmethod
    def build(
        cls,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        redacted_path: str | None = None,
    ) -> ApiRequest:
        """Build a request, generating the idempotency key of a write once, here."""
        method = method.upper()
        if method in WRITE_METHODS:
            if idempotency_key is None:
                idempotency_key = f"af-{uuid.uuid4().hex}"
            else:
                idempotency_key = validate_idempotency_key(idempotency_key)
        return cls(method, path, json, params, idempotency_key, redacted_path)

    def headers(self, settings: ConnectionSettings) -> dict[str, str]:
        """Return the headers for this request under ``settings``."""
        headers = settings.headers()
        if self.json is not None:
            headers["Content-Type"] = "application/json"
        if self.idempotency_key:
            headers["X-Idempotency-Key"] = self.idempotency_key
        return headers

    def body(self) -> bytes | None:
        """Return the JSON body as bytes, encoded the same way on both transports."""
        if self.json is None:
            return None
        return json.dumps(self.json, separators=(",", ":")).encode()


@dataclass(frozen=True)
class ApiResult:
    """The parts of a success envelope that callers may need."""

    data: Any
    meta: dict[str, Any] = field(default_factory=dict)
    pagination: dict[str, Any] | None = None

    @property
    def request_id(self) -> str | None:
        return self.meta.get("request_id")


def interpret(request: ApiRequest, status: int, headers: Mapping[str, str], body: bytes) -> ApiResult:
    """
    Turn one HTTP answer into an :class:`ApiResult`, or raise the typed error for it.

    Branches on the HTTP status first and on SmartlyQ's error code second. ``headers`` is looked
    up case-insensitively, as both transports' libraries give it (``requests``'
    ``CaseInsensitiveDict``, aiohttp's ``CIMultiDictProxy``).
    """
    payload = _decode(body)
    meta = payload.get("meta") if isinstance(payload, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    request_id = meta.get("request_id") or headers.get("X-Request-Id")
    if 200 <= status < 300:
        if status == 204:
            return ApiResult(data=None, meta=meta)
        if not isinstance(payload, dict) or payload.get("success") is not True or "data" not in payload:
            # A 2xx with an unreadable body is the server's fault; GETs and keyed writes may retry.
            raise SmartlyQServerError(
                status,
                "INVALID_RESPONSE",
                "the answer was not a SmartlyQ success envelope (malformed or truncated JSON)",
                request_id=request_id,
                method=request.method,
                path=request.log_path,
            )
        return ApiResult(
            data=payload["data"],
            meta=meta,
            pagination=payload.get("pagination") if isinstance(payload.get("pagination"), dict) else None,
        )
    raise error_for(request, status, headers, payload, request_id)


def error_for(
    request: ApiRequest,
    status: int,
    headers: Mapping[str, str],
    payload: Any,
    request_id: str | None,
) -> SmartlyQAPIError:
    """Return the typed error for a non-2xx answer."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code")) if error.get("code") else None
        message = str(error.get("message") or "no message")
        details = error.get("details")
    else:
        code, details = None, None
        message = "the answer had no SmartlyQ error envelope (non-JSON body)"
    kwargs: dict[str, Any] = {
        "details": details,
        "request_id": request_id,
        "method": request.method,
        "path": request.log_path,
        # 429 carries it per SmartlyQ; a 503 from the edge may too (RFC 9110): honoured for both.
        "retry_after": parse_retry_after(headers.get("Retry-After")),
    }
    upper = (code or "").upper()
    if status in (401, 403):
        return SmartlyQAuthError(status, code, message, **kwargs)
    if status == 404:
        cls = SmartlyQNotEnabledError if upper == "NOT_ENABLED" else SmartlyQNotFoundError
        return cls(status, code, message, **kwargs)
    if status == 402:
        return SmartlyQInsufficientBalanceError(status, code, message, **kwargs)
    if status == 409:
        conflict_cls: type[SmartlyQConflictError] = SmartlyQConflictError
        if upper == "DUPLICATE_CONTENT":
            conflict_cls = SmartlyQDuplicateContentError
        elif upper == "IDEMPOTENCY_CONFLICT":
            conflict_cls = SmartlyQIdempotencyConflictError
        return conflict_cls(status, code, message, **kwargs)
    if status == 422 and upper == "UNSUPPORTED_PLATFORM":
        return SmartlyQUnsupportedPlatformError(status, code, message, **kwargs)
    if status == 422 and upper == "PROVIDER_NOT_CONFIGURED":
        return SmartlyQProviderNotConfiguredError(status, code, message, **kwargs)
    if status in (400, 422):
        return SmartlyQValidationError(status, code, message, **kwargs)
    if status == 429:
        return SmartlyQRateLimitError(status, code, message, **kwargs)
    if status >= 500:
        return SmartlyQServerError(status, code, message, **kwargs)
    return SmartlyQAPIError(status, code, message, **kwargs)


def parse_retry_after(value: str | None) -> float | None:
    """Return a ``Retry-After`` header (seconds or an HTTP date) as seconds, capped, or ``None``."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if math.isnan(seconds):  # "nan" parses as a float; time.sleep(nan) would raise ValueError
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class RetryPolicy:
    """
    When and how long to wait between attempts; one instance drives both transports.

    Exponential backoff with full jitter between ``min_wait`` and ``max_wait``. When the server
    said how long (``Retry-After`` on a 429 or 5xx), at least that, plus jitter so that clients
    told the same time do not return together; never more than ``max_wait``. With the request
    budget on (``budget_holds``), a 429 is waited out by the budget's one shared hold on the key
    (the next attempt waits for it), not by a separate sleep per request.
    """

    max_retries: int
    min_wait: float = 0.5
    max_wait: float = 30.0
    budget_holds: bool = False

    def wait(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, SmartlyQAPIError) and exc.retry_after is not None:
            if self.budget_holds and exc.status_code == 429:
                return 0.0
            from airflow_provider_smartlyq.hooks._budget import jitter_after

            return min(self.max_wait, jitter_after(exc.retry_after))
        # Ours is only the Retry-After override above; the backoff is tenacity's own.
        backoff = wait_random_exponential(multiplier=self.min_wait, min=self.min_wait, max=self.max_wait)
        return float(backoff(retry_state))

    def tenacity_kwargs(
        self, log: LoggerLike, request: ApiRequest, deadline: float | None = None
    ) -> dict[str, Any]:
        """
        Return the keyword arguments for ``tenacity.Retrying`` and ``AsyncRetrying`` alike.

        :param deadline: Unix seconds no retry sleep may pass (a trigger's ``end_time``): the
            last error is raised instead of sleeping beyond it.
        """

        def before_sleep(retry_state: RetryCallState) -> None:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            log.warning(
                "SmartlyQ %s %s failed (%s); retry %d of %d in %.1f s",
                request.method,
                request.log_path,
                _short(exc),
                retry_state.attempt_number,
                self.max_retries,
                retry_state.upcoming_sleep,
            )

        stop: stop_base = stop_after_attempt(self.max_retries + 1)
        if deadline is not None:
            stop = stop | _StopAtDeadline(deadline)
        return {
            "retry": retry_if_exception(is_retryable),
            "stop": stop,
            "wait": self.wait,
            "before_sleep": before_sleep,
            "reraise": True,
        }


class _StopAtDeadline(stop_base):
    """Stop instead of a sleep that would end past ``deadline`` (tenacity computes the sleep first)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return time.time() + retry_state.upcoming_sleep >= self.deadline


def _short(exc: BaseException | None) -> str:
    if isinstance(exc, SmartlyQAPIError):
        return f"HTTP {exc.status_code} {exc.code or ''}".strip()
    return type(exc).__name__ if exc else "unknown"


def _decode(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
