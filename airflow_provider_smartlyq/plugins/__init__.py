"""
The SmartlyQ api-server plugin: an accounts view in the UI, a webhook endpoint, a connect return page.

Registered through the provider info (``plugins``), so it loads wherever the provider is
installed. ``[smartlyq] ui_plugin_enabled = False`` (env ``AIRFLOW__SMARTLYQ__UI_PLUGIN_ENABLED``)
switches it off: the plugin is still listed, but mounts no app and adds no view.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_smartlyq._compat import airflow_plugin_class, conf

__all__ = ["SmartlyQPlugin", "plugin_enabled"]

#: Where the FastAPI app is mounted on the api-server.
URL_PREFIX = "/smartlyq"


def plugin_enabled() -> bool:
    """Return ``[smartlyq] ui_plugin_enabled`` (default ``True``)."""
    return conf.getboolean("smartlyq", "ui_plugin_enabled", fallback=True)


def _fastapi_apps() -> list[dict[str, Any]]:
    if not plugin_enabled():
        return []
    try:
        from airflow_provider_smartlyq.plugins.app import create_app

        app = create_app()
    except ImportError:  # no api-server security module in this Airflow: nothing to mount
        return []
    return [{"app": app, "url_prefix": URL_PREFIX, "name": "SmartlyQ"}]


def _external_views() -> list[dict[str, Any]]:
    if not plugin_enabled():
        return []
    return [
        {
            "name": "SmartlyQ accounts",
            "href": f"{URL_PREFIX}/accounts",
            "destination": "nav",
            "category": "browse",
            "url_route": "smartlyq-accounts",
        }
    ]


class SmartlyQPlugin(airflow_plugin_class()):  # type: ignore[misc]  # the base class is looked up at import
    """Mount the SmartlyQ app under ``/smartlyq`` and add "SmartlyQ accounts" to the UI's navigation."""

    name = "smartlyq"
    fastapi_apps = _fastapi_apps()
    external_views = _external_views()


def _entry_point_plugin() -> type | None:
    """
    Return the plugin for the ``airflow.plugins`` entry point, or ``None`` when providers load it.

    Airflow loads provider-info plugins only with ``[core] lazy_discover_providers = False``
    (its default is ``True``), so the package also declares the entry point. Where Airflow
    loads provider plugins itself, the entry point answers ``None``, which Airflow skips
    silently, so the plugin is never registered twice.
    """
    from airflow import settings

    return None if not getattr(settings, "LAZY_LOAD_PROVIDERS", True) else SmartlyQPlugin


#: What the ``airflow.plugins`` entry point names (see :func:`_entry_point_plugin`).
entry_point_plugin = _entry_point_plugin()
