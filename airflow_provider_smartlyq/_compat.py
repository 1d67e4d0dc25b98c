"""
The one home of Airflow names that moved or appeared between Airflow 3.1, 3.2 and 3.3.

Every other module imports these names from here, never from ``airflow.sdk...`` directly, so
that supporting another Airflow release means changing this file only. Where a name exists in
``airflow.sdk`` it is taken from there (the public, forward-compatible home); the fallbacks are
where Airflow 3.1 (and for ``amask_secret`` 3.2) keep it. Which feature needs which release is
listed in ``docs/versions.md``.

Import cost matters: operator and sensor modules import this at DAG-parse time, so only names a
DAG file already pays for (``airflow.sdk``'s configuration and exceptions) are imported at the
top; everything else is imported inside the function that needs it.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

import airflow  # already loaded by any airflow.sdk import: free here

#: Homes of the names that moved, newest first (Airflow 3.2+, then 3.1); the first one wins.
_CONF_HOMES = ("airflow.sdk", "airflow.configuration")  # 3.1's task SDK has no conf of its own
#: The exceptions must be the very classes the task runner catches (a copy would never be):
#: 3.2+ takes them from the task SDK, 3.1 from airflow.exceptions.
_EXCEPTION_HOMES = ("airflow.sdk.exceptions", "airflow.exceptions")


def _first_module(*homes: str) -> ModuleType:
    """Import the first of ``homes`` this Airflow has; raise the last one's ImportError if none."""
    for home in homes[:-1]:
        try:
            return importlib.import_module(home)
        except ImportError:
            continue
    return importlib.import_module(homes[-1])


def _first_attribute(name: str, homes: tuple[str, ...]) -> Any:
    """Return ``name`` from the first of ``homes`` this Airflow has that defines it."""
    for home in homes[:-1]:
        try:
            return getattr(importlib.import_module(home), name)
        except (ImportError, AttributeError):  # airflow.sdk resolves its names lazily: AttributeError
            continue
    return getattr(importlib.import_module(homes[-1]), name)


if TYPE_CHECKING:
    from types import ModuleType

    # Type checkers see the newest layout (the dev venv runs the newest Airflow).
    from airflow.sdk import conf
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowRescheduleException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )
else:
    conf = _first_attribute("conf", _CONF_HOMES)
    AirflowException = _first_attribute("AirflowException", _EXCEPTION_HOMES)
    AirflowFailException = _first_attribute("AirflowFailException", _EXCEPTION_HOMES)
    AirflowNotFoundException = _first_attribute("AirflowNotFoundException", _EXCEPTION_HOMES)
    AirflowRescheduleException = _first_attribute("AirflowRescheduleException", _EXCEPTION_HOMES)
    AirflowSensorTimeout = _first_attribute("AirflowSensorTimeout", _EXCEPTION_HOMES)
    AirflowSkipException = _first_attribute("AirflowSkipException", _EXCEPTION_HOMES)
    TaskDeferred = _first_attribute("TaskDeferred", _EXCEPTION_HOMES)


def _release(version: str) -> tuple[int, int]:
    major, minor = [*version.split("."), "0"][:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


# As Airflow's own providers do (version_compat.py): flags for behaviour that differs by release.
AIRFLOW_V_3_2_PLUS = _release(airflow.__version__) >= (3, 2)
AIRFLOW_V_3_3_PLUS = _release(airflow.__version__) >= (3, 3)

__all__ = [
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowRescheduleException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "TaskDeferred",
    "airflow_plugin_class",
    "airflow_version",
    "amask_secret",
    "api_connection_read_dependency",
    "api_user_dependency",
    "conf",
    "dag_bag",
    "has_asset_state_store",
    "has_shared_streams",
    "import_string",
    "mask_secret",
    "stats",
]


def airflow_version() -> str:
    """Return the running Airflow's version string (for messages that explain a fallback)."""
    return str(getattr(airflow, "__version__", "unknown"))


def mask_secret(secret: str, name: str | None = None) -> None:
    """Mask ``secret`` in this process's logs and, inside a task, in the supervisor's (all versions)."""
    from airflow.sdk.log import mask_secret as _mask_secret

    _mask_secret(secret, name)


async def amask_secret(secret: str, name: str | None = None) -> None:
    """
    Mask ``secret`` from a coroutine (a trigger) without blocking the event loop.

    Airflow 3.3 has ``airflow.sdk.log.amask_secret``. Airflow 3.1 and 3.2 do not, and their
    synchronous ``mask_secret`` cannot tell the triggerer's supervisor from its event loop (3.1
    drops the message, 3.2 may refuse), so the same two steps are done here: mask locally, then
    send the supervisor the same ``MaskSecret`` message with the asynchronous ``asend``.
    """
    try:
        from airflow.sdk.log import amask_secret as _amask_secret
    except ImportError:
        pass
    else:
        await _amask_secret(secret, name)
        return

    from airflow.sdk._shared.secrets_masker import _secrets_masker

    _secrets_masker().add_mask(secret, name)
    try:
        from airflow.sdk.execution_time import task_runner
        from airflow.sdk.execution_time.comms import MaskSecret
    except ImportError:  # pragma: no cover - both exist on every supported Airflow
        return
    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    asend = getattr(comms, "asend", None)
    if asend is None:  # not inside a task or triggerer (a test, a script): the local mask is all
        return
    try:
        await asend(MaskSecret(value=secret, name=name))
    except Exception:  # as Airflow's own mask_secret: masking must never fail the caller
        return


def has_shared_streams() -> bool:
    """
    Return whether the triggerer can share one stream among event triggers (Airflow 3.3+).

    Without it, each event trigger's ``run()`` polls on its own.
    """
    return importlib.util.find_spec("airflow.triggers.shared_stream") is not None


def has_asset_state_store() -> bool:
    """
    Return whether the triggerer hands event triggers an asset state store (Airflow 3.3+).

    Without it, what a watcher remembers lives in the triggerer's memory only.
    """
    return importlib.util.find_spec("airflow.models.asset_state_store") is not None


def import_string(dotted_path: str) -> Any:
    """Import ``module.attribute`` as the triggerer does with a serialized classpath (3.2+ / 3.1 homes)."""
    module_loading = _first_module("airflow.sdk._shared.module_loading", "airflow.utils.module_loading")
    return module_loading.import_string(dotted_path)


def stats() -> Any:
    """
    Return Airflow's metrics facade (``Stats``: StatsD or OpenTelemetry, as configured).

    Airflow 3.2+ keeps it in the task SDK (``airflow.sdk.observability.stats``; 3.3 also
    re-exports it in core), 3.1 in ``airflow.stats`` (deprecated, with a warning, since 3.2).
    Imported on call, never at module import: hooks load in DAG files.

    :raises ImportError: this Airflow has none of them.
    """
    return _first_module(
        "airflow.sdk.observability.stats", "airflow.observability.stats", "airflow.stats"
    ).Stats


def airflow_plugin_class() -> Any:
    """
    Return ``AirflowPlugin``, the base class of api-server plugins (``airflow.plugins_manager``).

    Imported on call: only the provider's plugin module needs it, never a DAG file.
    """
    return importlib.import_module("airflow.plugins_manager").AirflowPlugin


def api_user_dependency() -> Any:
    """
    Return the api-server's FastAPI dependency that resolves the logged-in user (``get_user``).

    It answers 401 to a request without a valid token (cookie or bearer), as every REST route.

    :raises ImportError: this Airflow's api-server has no such dependency.
    """
    return importlib.import_module("airflow.api_fastapi.core_api.security").get_user


def api_connection_read_dependency() -> Any:
    """
    Return the api-server's FastAPI dependency that requires read access to connections.

    ``requires_access_connection("GET")`` reads the ``connection_id`` path parameter when the
    route has one (access to that connection), else asks about connections in general; it
    answers 401 without a login and 403 when the auth manager refuses (Airflow 3.1 to 3.3).

    :raises ImportError: this Airflow's api-server has no such dependency.
    """
    return importlib.import_module("airflow.api_fastapi.core_api.security").requires_access_connection("GET")


def dag_bag(dag_folder: str) -> Any:
    """Parse ``dag_folder`` into a ``DagBag`` as the dag-processor does (tests, tooling; 3.2+ / 3.1 homes)."""
    dagbag = _first_module("airflow.dag_processing.dagbag", "airflow.models.dagbag")
    return dagbag.DagBag(dag_folder=dag_folder)
