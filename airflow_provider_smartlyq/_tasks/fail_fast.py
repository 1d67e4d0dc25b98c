"""
Fail a task at once, without retries, on errors that a retry cannot fix.

Airflow retries a failed task ``retries`` times whatever the cause. For a 422 (the post needs an
image) or a 409 (duplicate content) every retry fails the same way and only delays the alert, so
operators and sensors wrap ``execute``, ``execute_complete`` and ``poke`` in :func:`fail_fast`:
an error that :func:`~airflow_provider_smartlyq.core.classify.classify_error` calls permanent is
raised again as its fail-now twin, an instance of BOTH its own class and Airflow's
``AirflowFailException`` (failed now, no retry). ``except SmartlyQDuplicateContentError`` and
``on_failure_callback`` checks keep working; the message gains a "Not retried" note. Transient
errors (no answer, 429, 5xx) pass unchanged, so task retries apply.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_smartlyq._compat import AirflowFailException
from airflow_provider_smartlyq.core.classify import is_permanent, is_unexpected

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["fail_fast", "fail_now", "fail_now_if_permanent"]

F = TypeVar("F", bound="Callable[..., Any]")

#: Appended to the message so that the log says why the task did not retry.
NOT_RETRIED = "Not retried: a retry would fail the same way. Fix the cause, then clear the task."


@functools.cache
def _twin_class(cls: type[BaseException]) -> type[BaseException]:
    """Return ``cls`` made an ``AirflowFailException`` too (one class per error class)."""

    def __reduce__(self: BaseException) -> Any:  # pickles as "the original, failed now"
        return fail_now, (self.__cause__,)

    return type(
        cls.__name__,
        (cls, AirflowFailException),
        {"__module__": cls.__module__, "__doc__": cls.__doc__, "__reduce__": __reduce__},
    )


def fail_now(exc: BaseException) -> BaseException:
    """
    Return ``exc`` as its fail-now twin: same class, fields and message, plus ``AirflowFailException``.

    The twin's ``__cause__`` is ``exc`` itself, whose traceback shows where it was raised.
    """
    twin_class = _twin_class(type(exc))  # type: ignore[arg-type]  # classes are hashable
    twin = twin_class.__new__(twin_class)
    twin.__dict__.update(exc.__dict__)
    twin.args = (f"{exc} {NOT_RETRIED}",)
    twin.__cause__ = exc
    return twin


def fail_now_if_permanent(exc: BaseException) -> BaseException | None:
    """Return the fail-now twin of ``exc`` when it is permanent; ``None`` to raise it unchanged."""
    # Only errors about SmartlyQ, its connection or the network are judged; Airflow's own
    # control flow (deferral, skip, sensor timeout, reschedule) and plain bugs pass untouched.
    if is_unexpected(exc) or isinstance(exc, AirflowFailException) or not is_permanent(exc):
        return None
    return fail_now(exc)


def fail_fast(method: F) -> F:
    """Decorate a task method so that permanent SmartlyQ errors fail the task without retries."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            twin = fail_now_if_permanent(exc)
            if twin is None:
                raise
            raise twin from exc

    return wrapper  # type: ignore[return-value]
