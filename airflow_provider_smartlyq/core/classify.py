"""
The one rule for what a failure means: send again now, wait and try later, or stop.

Every place that reacts to an error asks :func:`classify_error`: the hook's HTTP retries
(``RETRYABLE`` only), waits in triggers, sensors and workers (anything but ``PERMANENT`` polls
again), the account-health watcher (``PERMANENT`` counts towards its stop), and operators and
sensors, which fail at once, without task retries, on ``PERMANENT``. Keeping the rule here, on
the exception alone, means a 422 cannot be "final" in one place and "try again" in another.

Standard library, Airflow's exceptions and the provider's errors only: cheap to import anywhere.
"""

from __future__ import annotations

import asyncio
import enum

from airflow_provider_smartlyq._compat import AirflowNotFoundException
from airflow_provider_smartlyq.exceptions import (
    SmartlyQAPIError,
    SmartlyQBatchError,
    SmartlyQConfigurationError,
    SmartlyQConnectionError,
    SmartlyQError,
    SmartlyQPublishError,
    SmartlyQRateLimitError,
    SmartlyQServerError,
    SmartlyQSignatureError,
    SmartlyQWaitError,
    SmartlyQWatcherStoppedError,
)

#: Errors that are not API answers but are final all the same.
_PERMANENT_ERRORS = (
    AirflowNotFoundException,  # the connection does not exist
    SmartlyQConfigurationError,
    SmartlyQSignatureError,
    SmartlyQWaitError,  # a trigger ends a wait only on a permanent error
    SmartlyQWatcherStoppedError,
)

__all__ = [
    "RETRYABLE_STATUSES",
    "ErrorKind",
    "classify_error",
    "is_permanent",
    "is_retryable",
    "is_transient",
    "is_unexpected",
]

#: HTTP statuses the hook sends again at once (with backoff): "busy or briefly broken".
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class ErrorKind(str, enum.Enum):
    """What a failure means for whoever is about to react to it."""

    #: The same request may be sent again now (the hook does, with backoff; writes replay under
    #: their idempotency key). Also transient: a wait polls again, a task retry may succeed.
    RETRYABLE = "retryable"
    #: Not worth resending at once, but time may fix it: a wait polls again later and a task
    #: retry may succeed (e.g. a 501, an unwrapped network error, a post that failed on a platform).
    TRANSIENT = "transient"
    #: The same call will get the same answer until a human changes something (the key, the
    #: content, the account, the credits): fail now, no task retry, no further polling.
    PERMANENT = "permanent"


def classify_error(exc: BaseException) -> ErrorKind:
    """
    Return what ``exc`` means: ``RETRYABLE``, ``TRANSIENT`` or ``PERMANENT``.

    * ``RETRYABLE``: no answer at all
      (:class:`~airflow_provider_smartlyq.exceptions.SmartlyQConnectionError`), HTTP 429, 500,
      502, 503, 504, and a 2xx whose body was cut or garbled (``INVALID_RESPONSE``).
    * ``TRANSIENT``: other 5xx; a network error that no hook wrapped (``OSError``, timeouts); a
      post that ``failed`` or ``partially_published`` (a task retry re-publishes the failed
      platforms); any other :class:`~airflow_provider_smartlyq.exceptions.SmartlyQError` that is
      not an API error (a connect link that expired, a wait that timed out: a new try may succeed).
    * ``PERMANENT``: every other API error: 400 and 422 (validation, unsupported platform,
      provider not configured), 401 and 403, 402, 404 (including ``NOT_ENABLED``), 409
      (duplicate content, idempotency conflict), unknown statuses; a bad or missing Airflow
      connection; a wait that its trigger ended on such an error; a cancelled post; a batch of
      writes that all failed permanently; and anything unexpected (a bug does not go away by
      waiting).

    Errors that say otherwise about themselves win: an exception whose ``error_kind`` attribute
    is an :class:`ErrorKind` (e.g. a batch of writes that failed for different reasons) is taken
    at its word.
    """
    own = getattr(exc, "error_kind", None)
    if isinstance(own, ErrorKind):
        return own
    if isinstance(exc, SmartlyQConnectionError):
        return ErrorKind.RETRYABLE
    if isinstance(exc, SmartlyQAPIError):
        status = exc.status_code
        if status in RETRYABLE_STATUSES:
            return ErrorKind.RETRYABLE
        # A 2xx whose body was cut or garbled: ask again (a write replays under its key). Only a
        # 2xx: a 4xx whose body happened to say INVALID_RESPONSE must stay final.
        if 200 <= status < 300 and exc.code == "INVALID_RESPONSE":
            return ErrorKind.RETRYABLE
        if isinstance(exc, (SmartlyQServerError, SmartlyQRateLimitError)):
            return ErrorKind.TRANSIENT
        return ErrorKind.PERMANENT
    if isinstance(exc, SmartlyQBatchError):
        # Permanent only when no failed write could succeed on a retry.
        if exc.errors and all(is_permanent(error) for error in exc.errors):
            return ErrorKind.PERMANENT
        return ErrorKind.TRANSIENT
    if isinstance(exc, SmartlyQPublishError):
        return ErrorKind.PERMANENT if exc.status == "cancelled" else ErrorKind.TRANSIENT
    if isinstance(exc, _PERMANENT_ERRORS):
        return ErrorKind.PERMANENT
    if isinstance(exc, SmartlyQError):
        return ErrorKind.TRANSIENT
    if isinstance(exc, (OSError, asyncio.TimeoutError)):
        return ErrorKind.TRANSIENT
    return ErrorKind.PERMANENT


def is_retryable(exc: BaseException) -> bool:
    """Return whether the hook may send the failed request again now (see :func:`classify_error`)."""
    return classify_error(exc) is ErrorKind.RETRYABLE


def is_transient(exc: BaseException) -> bool:
    """Return whether a wait should poll again and a task retry may help (see :func:`classify_error`)."""
    return classify_error(exc) is not ErrorKind.PERMANENT


def is_permanent(exc: BaseException) -> bool:
    """Return whether only a human can fix ``exc``: fail now, no retry (see :func:`classify_error`)."""
    return classify_error(exc) is ErrorKind.PERMANENT


def is_unexpected(exc: BaseException) -> bool:
    """
    Return whether ``exc`` is not SmartlyQ, its connection or the network failing: a bug.

    :func:`classify_error` calls such an error ``PERMANENT`` too; a loop that rides out outages
    (the health watcher's poll) asks this first, so that a bug surfaces at once with its
    traceback instead of being counted as one more failed poll.
    """
    return not isinstance(exc, (SmartlyQError, AirflowNotFoundException, OSError, asyncio.TimeoutError))
