"""
What every SmartlyQ operator and sensor does around its own work, written once.

* :class:`SmartlyQOperator`, :class:`WaitingOperator` and :class:`WaitSensor`: the bases of
  every operator and sensor; they own the arguments every task shares (``smartlyq_conn_id``;
  ``wait_for_completion``, ``deferrable``, ``poll_interval``, ``timeout`` for the operators
  that wait), as Airflow's ``BaseSensorOperator`` owns ``poke_interval`` and ``timeout``.
* :class:`SmartlyQTaskMixin`: the task's hook, built on first use (so DAG files parse without
  the HTTP libraries) and closed when the task's method returns, raises or defers
  (:func:`task_method`), in operators and sensors alike.
* :func:`idempotency_key` and :func:`task_idempotency_key`: the one way a task derives the
  ``X-Idempotency-Key`` of a write.
* :func:`check_then_defer_or_poll`: check once; then defer to a trigger, or poll from the worker
  until the final event or the deadline; :func:`wait_for` with the deferral to a wait's
  trigger (:func:`wait_trigger`, :func:`defer_to`), and :class:`WaitSensor`, the ``poke`` and
  deferrable ``execute`` of the sensors.

Only the standard library and ``airflow.sdk`` at import time: operator and sensor modules
import this when a DAG file is parsed, so everything else (the wait rules, the error
classification, the hook) is imported where it is used, when a task runs.
"""

from __future__ import annotations

import functools
import hashlib
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, TypeVar

# airflow.sdk only (through _compat for what moved): every DAG file has loaded it already.
from airflow.sdk import BaseOperator, BaseSensorOperator, PokeReturnValue

from airflow_provider_smartlyq._compat import conf
from airflow_provider_smartlyq._tasks.selection import is_templated

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from airflow.sdk import Context

    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook
    from airflow_provider_smartlyq.triggers._base import SmartlyQPollingTrigger
    from airflow_provider_smartlyq.waits.policy import PollPacer

__all__ = [
    "PacedPokes",
    "SmartlyQOperator",
    "SmartlyQTaskMixin",
    "WaitSensor",
    "WaitingOperator",
    "check_then_defer_or_poll",
    "defer_to",
    "idempotency_key",
    "task_idempotency_key",
    "task_method",
    "wait_for",
    "wait_trigger",
]

F = TypeVar("F", bound="Callable[..., Any]")

#: Attribute counting the task methods running on an instance (``execute`` calls ``poke``,
#: ``execute`` may call ``execute_complete``): the hook closes when the outermost one ends.
_DEPTH = "_smartlyq_task_depth"


class SmartlyQTaskMixin:
    """
    Give an operator or sensor its hook: one per task run, closed when the task's method ends.

    Mixed into :class:`SmartlyQOperator` and :class:`WaitSensor`, which set ``smartlyq_conn_id``;
    tasks use :attr:`hook` and decorate the methods Airflow calls (``execute``,
    ``execute_complete``, ``poke``) with :func:`task_method`.
    """

    smartlyq_conn_id: str
    #: The task's own checked arguments: attribute -> check
    #: (:mod:`~airflow_provider_smartlyq._tasks.arguments`).
    argument_checks: ClassVar[Mapping[str, Callable[[Any], Any]]] = {}

    def store_arguments(self, **values: Any) -> None:
        """
        Store the task's own arguments, checking every literal one now.

        A literal mistake fails when the DAG file is parsed; a templated value is checked when
        the task reads it rendered (:meth:`checked`), by the same check.
        """
        for name, value in values.items():
            if not is_templated(value):
                self.argument_checks[name](value)
            setattr(self, name, value)

    def checked(self, name: str) -> Any:
        """Return the argument ``name`` as rendered, through its check (the value to use)."""
        return self.argument_checks[name](getattr(self, name))

    @cached_property
    def hook(self) -> SmartlyQHook:
        """Return the task's hook (imported here so that DAG files parse without HTTP libraries)."""
        from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

        return SmartlyQHook(self.smartlyq_conn_id)

    def close_hook(self) -> None:
        """Close the hook if one was built (its HTTP session); the next use builds a new one."""
        hook = self.__dict__.pop("hook", None)
        if hook is not None:
            hook.close()


class SmartlyQOperator(SmartlyQTaskMixin, BaseOperator):
    """
    The base of every SmartlyQ operator: the connection it uses, and its hook.

    :param smartlyq_conn_id: The Airflow connection to use.
    """

    def __init__(self, *, smartlyq_conn_id: str = "smartlyq_default", **kwargs: Any) -> None:
        # Its own __init__, so that Airflow's metaclass applies default_args to smartlyq_conn_id.
        super().__init__(**kwargs)
        self.smartlyq_conn_id = smartlyq_conn_id


class WaitingOperator(SmartlyQOperator):
    """
    The base of an operator that starts something and by default waits until it has ended.

    :param wait_for_completion: Wait for the end; ``False`` returns what was started at once.
    :param deferrable: Wait in the triggerer (no worker slot held). Default:
        ``[operators] default_deferrable``.
    :param poll_interval: Seconds between status checks while waiting.
    :param timeout: Seconds to wait before failing (default 900).
    """

    def __init__(
        self,
        *,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 5,
        timeout: float = 15 * 60,
        **kwargs: Any,
    ) -> None:
        from airflow_provider_smartlyq.waits.policy import validate_poll_interval, validate_timeout

        super().__init__(**kwargs)
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = validate_poll_interval(poll_interval)
        self.timeout = validate_timeout(timeout)

    def wait(
        self,
        trigger: str,
        target: object,
        check: Callable[[PollPacer], dict[str, Any] | None],
        timeout_event: Callable[[], dict[str, Any]] = lambda: {"status": "timeout"},
    ) -> dict[str, Any]:
        """
        Wait up to ``timeout`` from now for the final event of ``target``: :func:`wait_for`.

        :param trigger: The trigger's class name (``ConnectCompletedTrigger``, ...).
        :param target: What it waits for (a state token, a post id).
        :param check: One check in the worker; the final event or ``None``.
        :param timeout_event: The event when the deadline passes first.
        """
        return wait_for(
            self,
            trigger,
            target,
            check,
            deferrable=self.deferrable,
            poll_interval=self.poll_interval,
            end_time=time.time() + self.timeout,
            timeout_event=timeout_event,
        )


class PacedPokes:
    """
    Mixin for sensors: every poke interval gets jitter, and after a 429 at least its Retry-After.

    Airflow's ``BaseSensorOperator`` sleeps (poke mode) or reschedules (reschedule mode) for
    ``_get_next_poke_interval()``; this mixin adjusts that value with :attr:`pacer`
    (:class:`~airflow_provider_smartlyq.waits.policy.PollPacer`, the worker side of the wait
    rules). Put it before ``BaseSensorOperator`` in the bases, and pass ``self.pacer`` to the check.
    """

    _pacer: PollPacer | None = None

    @property
    def pacer(self) -> PollPacer:
        """Return this sensor's pacer (built on first use, from ``poke_interval``)."""
        if self._pacer is None:
            from airflow_provider_smartlyq.waits.policy import PollPacer

            self._pacer = PollPacer(float(self.poke_interval))  # type: ignore[attr-defined]
        return self._pacer

    def _get_next_poke_interval(self, started_at: Any, run_duration: Any, poke_count: int) -> float:
        interval = super()._get_next_poke_interval(started_at, run_duration, poke_count)  # type: ignore[misc]
        # Never past the sensor's timeout: Airflow checks it only after the next poke.
        left = float(self.timeout) - float(run_duration())  # type: ignore[attr-defined]
        return self.pacer.delay(interval, end_time=time.time() + max(0.0, left))


def task_method(method: F) -> F:
    """
    Decorate a method Airflow calls on a task: fail fast, and close the task's hook when it ends.

    Permanent errors fail the task without retries
    (:func:`~airflow_provider_smartlyq._tasks.fail_fast.fail_fast`).
    Nested calls (``execute`` -> ``poke`` in poke mode, ``execute`` -> ``execute_complete``)
    share the hook; it closes when the outermost one returns, raises or defers
    (``TaskDeferred`` is an exception too). A poke-mode sensor keeps one hook, and its
    keep-alive connection, across its pokes; a reschedule-mode sensor closes it after each.
    """

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        depth = self.__dict__.get(_DEPTH, 0)
        self.__dict__[_DEPTH] = depth + 1
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            from airflow_provider_smartlyq._tasks.fail_fast import fail_now_if_permanent

            twin = fail_now_if_permanent(exc)
            if twin is None:
                raise
            raise twin from exc
        finally:
            self.__dict__[_DEPTH] = depth
            if depth == 0:
                self.close_hook()

    return wrapper  # type: ignore[return-value]


def idempotency_key(action: str, *parts: object) -> str:
    """
    Return the ``X-Idempotency-Key`` of one write: ``af:<action>:<48 hex digits>``.

    The digits are the start of the SHA-256 of the action and ``parts`` joined by ``|``, so the
    same write gives the same key wherever and whenever it is computed, and SmartlyQ replays
    instead of acting twice. An action too long for 64 characters falls back to
    ``af:<61 hex digits>`` (the action still counts in the digits).
    """
    from airflow_provider_smartlyq.core.validation import validate_idempotency_key

    digest = hashlib.sha256("|".join(str(part) for part in (action, *parts)).encode()).hexdigest()
    key = f"af:{action}:{digest[:48]}"
    if len(key) > 64:
        key = f"af:{digest[:61]}"
    return validate_idempotency_key(key)


def task_idempotency_key(
    context: Mapping[str, Any] | None, action: str, *parts: object, per_try: bool = True
) -> str | None:
    """
    Return the key of a write made by the running task instance; ``None`` outside a task run.

    :param action: What the write does (``connect``, ``pause``, ``retry``, ...); part of the key.
    :param parts: What else tells two writes of one task instance apart (an account id).
    :param per_try: Put the try number in the key. A write that a later try must really make
        again (a new connect link, a pause after someone resumed the account) varies per try;
        the hook's HTTP retries inside one try still share its key. ``False`` keeps one key for
        every try and clear of the task instance (publishing a post exactly once).
    """
    ti = (context or {}).get("ti")
    if ti is None:
        return None  # the hook generates a random key per call
    where = [getattr(ti, name, "") for name in ("dag_id", "run_id", "task_id")]
    where.append(getattr(ti, "map_index", -1))
    if per_try:
        where.append(getattr(ti, "try_number", ""))
    return idempotency_key(action, *where, *parts)


def check_then_defer_or_poll(
    check: Callable[[PollPacer], dict[str, Any] | None],
    *,
    deferrable: bool,
    defer: Callable[[], NoReturn],
    poll_interval: float,
    end_time: float,
    timeout_event: Callable[[], dict[str, Any]] = lambda: {"status": "timeout"},
) -> dict[str, Any]:
    """
    Check once; return the final event, else defer, else poll from the worker until one.

    :param check: One check; returns the final event or ``None`` to wait on. It gets the
        wait's pacer to tell how the check went (a 429's ``Retry-After`` lengthens the pause).
    :param deferrable: Defer after a first check that was not final.
    :param defer: Defer the task (raises ``TaskDeferred``).
    :param poll_interval: Seconds between checks in the worker (jittered, see ``PollPacer``).
    :param end_time: Unix seconds when the worker stops polling.
    :param timeout_event: The event returned when ``end_time`` passes first.
    """
    from airflow_provider_smartlyq.waits.policy import PollPacer

    pacer = PollPacer(poll_interval)
    event = check(pacer)
    if event is not None:
        return event
    if deferrable:
        defer()
    from airflow_provider_smartlyq.hooks._budget import request_deadline

    while time.time() < end_time:
        pacer.sleep(end_time)  # jittered; after a 429 at least its Retry-After; never past the deadline
        with request_deadline(end_time):  # nor do the hook's waits for budget and retries
            event = check(pacer)
        if event is not None:
            return event
    return timeout_event()


def wait_trigger(
    task: Any, trigger: str, target: object, *, poll_interval: float, end_time: float
) -> SmartlyQPollingTrigger:
    """
    Return the trigger that waits, for ``task``, on the one thing ``target`` names.

    :param trigger: The class name in :mod:`airflow_provider_smartlyq.triggers.smartlyq`
        (``ConnectCompletedTrigger``, ``PostPublishedTrigger``): that public module loads only
        the trigger's own module, and only when a task defers.
    :param target: The value of the trigger's ``item_kwarg`` (a state token, a post id).
    """
    from airflow_provider_smartlyq.triggers import smartlyq as triggers

    trigger_class = getattr(triggers, trigger)
    return trigger_class(
        **{trigger_class.item_kwarg: target},
        smartlyq_conn_id=task.smartlyq_conn_id,
        poll_interval=poll_interval,
        end_time=end_time,
    )


def defer_to(task: BaseOperator, trigger: SmartlyQPollingTrigger, end_time: float) -> NoReturn:
    """
    Defer ``task`` to ``trigger``; the task resumes in its ``execute_complete(context, event)``.

    The trigger gives up at ``end_time`` with an event that says what it waited for; Airflow's
    own deferral timeout (the time left plus a grace) only backs it up.

    :raises TaskDeferred: always (that is how a task defers).
    """
    from airflow_provider_smartlyq.waits.policy import deferral_timeout

    task.log.info("Deferring: the triggerer waits for %s", trigger.describe())
    task.defer(
        trigger=trigger,
        method_name="execute_complete",
        timeout=deferral_timeout(max(0.0, end_time - time.time())),
    )


def wait_for(
    task: Any,
    trigger: str,
    target: object,
    check: Callable[[PollPacer], dict[str, Any] | None],
    *,
    deferrable: bool,
    poll_interval: float,
    end_time: float,
    timeout_event: Callable[[], dict[str, Any]] = lambda: {"status": "timeout"},
) -> dict[str, Any]:
    """
    Check once; then defer to ``trigger`` waiting on ``target``, or poll in the worker.

    :func:`check_then_defer_or_poll` with the deferral of :func:`wait_trigger`: the operators'
    ``wait_for_completion`` and the sensors' deferrable ``execute`` wait this way.
    """
    return check_then_defer_or_poll(
        check,
        deferrable=deferrable,
        defer=lambda: defer_to(
            task,
            wait_trigger(task, trigger, target, poll_interval=poll_interval, end_time=end_time),
            end_time,
        ),
        poll_interval=poll_interval,
        end_time=end_time,
        timeout_event=timeout_event,
    )


class WaitSensor(PacedPokes, SmartlyQTaskMixin, BaseSensorOperator):
    """
    ``poke`` and the deferrable ``execute`` of a sensor that waits for one final event.

    The base of every SmartlyQ sensor (a ``BaseSensorOperator``, so that Airflow's metaclass
    guards this ``execute`` as it does an operator's own). A subclass provides :meth:`check_event`
    (one check: the final event, or ``None`` to wait on), :meth:`trigger` (what waits in the
    triggerer) and ``execute_complete(context, event)``. Poke, reschedule and deferrable mode
    then end the same way: through ``execute_complete``.

    :param smartlyq_conn_id: The Airflow connection to use.
    :param deferrable: Wait in the triggerer (no worker slot held). Default:
        ``[operators] default_deferrable``.
    """

    #: The trigger (a class name for :func:`wait_trigger`) of a sensor waiting on one :meth:`target`.
    trigger_name: ClassVar[str]

    def __init__(
        self,
        *,
        smartlyq_conn_id: str = "smartlyq_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        # Its own __init__, so that Airflow's metaclass applies default_args to these two.
        super().__init__(**kwargs)
        self.smartlyq_conn_id = smartlyq_conn_id
        self.deferrable = deferrable

    def check_event(self, context: Context) -> dict[str, Any] | None:
        """Check once (pacing with :attr:`pacer`); return the final event, or ``None`` to wait on."""
        raise NotImplementedError

    def target(self) -> object:
        """Return the one thing waited on, rendered and checked (a state token, a post id)."""
        raise NotImplementedError

    def trigger(self, end_time: float) -> SmartlyQPollingTrigger:
        """
        Return the trigger that waits in deferrable mode until ``end_time``.

        By default the :attr:`trigger_name` trigger of :meth:`target`.
        """
        return wait_trigger(
            self, self.trigger_name, self.target(), poll_interval=float(self.poke_interval), end_time=end_time
        )

    @task_method
    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Check once: done with :meth:`execute_complete`'s value, not yet, or fail."""
        event = self.check_event(context)
        if event is None:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self.execute_complete(context, event))  # type: ignore[attr-defined]

    @task_method
    def execute(self, context: Context) -> Any:
        """Check once; then defer (deferrable) or poke/reschedule as configured."""
        if not self.deferrable:
            return super().execute(context)
        end_time = time.time() + float(self.timeout)
        event = check_then_defer_or_poll(
            lambda pacer: self.check_event(context),
            deferrable=True,
            defer=lambda: defer_to(self, self.trigger(end_time), end_time),
            poll_interval=float(self.poke_interval),
            end_time=end_time,
        )
        # Through resume_execution, as a trigger's event would be: soft_fail/never_fail apply.
        return self.resume_execution("execute_complete", {"event": event}, context)
