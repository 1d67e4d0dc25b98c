"""Describe the provider to Airflow (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_smartlyq import __version__

_INTEGRATION = "SmartlyQ"
_PACKAGE = "airflow_provider_smartlyq"


def _modules(module: str) -> list[dict[str, Any]]:
    """Return the entry that lists one of the package's modules under the SmartlyQ integration."""
    return [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.{module}"]}]


def _conn_field(label: str, description: str, json_type: str, **bounds: Any) -> dict[str, Any]:
    """
    Return one connection-form field for an extra.

    Every extra may be left empty (the hook then uses its default), so each schema admits ``null``
    besides ``json_type``; ``bounds`` are further JSON-schema keywords (``minimum``, ``format``...).
    """
    return {
        "label": label,
        "description": description,
        "schema": {"type": [json_type, "null"], **bounds},
    }


def get_provider_info() -> dict[str, Any]:
    """
    Return the provider's metadata: connection type, form, hooks, operators, sensors, triggers.

    Airflow builds the SmartlyQ connection form from ``ui-field-behaviour`` and ``conn-fields``
    here. The hook defines no form classmethods (``get_ui_field_behaviour``,
    ``get_connection_form_widgets``): they would need flask-appbuilder, and this metadata serves
    every UI.
    """
    return {
        "package-name": "airflow-provider-smartlyq",
        "name": "SmartlyQ",
        "description": "`SmartlyQ <https://smartlyq.com/>`__ social-account API: headless connect, "
        "token health, reconnect links, pause/resume and publishing.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://docs.smartlyq.com/",
                "tags": ["service"],
            }
        ],
        "hooks": _modules("hooks.smartlyq"),
        "operators": _modules("operators.smartlyq"),
        "sensors": _modules("sensors.smartlyq"),
        "triggers": _modules("triggers.smartlyq"),
        "plugins": [{"name": "smartlyq", "plugin-class": f"{_PACKAGE}.plugins.SmartlyQPlugin"}],
        "config": {
            "smartlyq": {
                "description": "The SmartlyQ api-server plugin (accounts view, webhook endpoint, "
                "connect return page).",
                "options": {
                    "ui_plugin_enabled": {
                        "description": "Mount the SmartlyQ app under /smartlyq on the api-server and "
                        "add the SmartlyQ accounts view to the UI.",
                        "version_added": "0.1.0",
                        "type": "boolean",
                        "example": None,
                        "default": "True",
                    },
                    "ui_cache_seconds": {
                        "description": "Seconds one bulk health answer per connection serves every "
                        "viewer of the accounts view (one request per connection per interval; at least 10).",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": None,
                        "default": "300",
                    },
                },
            }
        },
        "extra-links": [
            f"{_PACKAGE}.links.SmartlyQConnectLink",
            f"{_PACKAGE}.links.SmartlyQReconnectLink",
            f"{_PACKAGE}.links.SmartlyQPostLink",
        ],
        "connection-types": [
            {
                "connection-type": "smartlyq",
                "hook-class-name": f"{_PACKAGE}.hooks.smartlyq.SmartlyQHook",
                "hook-name": "SmartlyQ",
                "ui-field-behaviour": {
                    # Airflow 3.3 always offers the raw extra JSON editor; hiding it is a no-op there.
                    "hidden-fields": ["schema", "login", "port", "extra"],
                    "relabeling": {"host": "API base URL", "password": "API key"},
                    "placeholders": {
                        "host": "https://api.smartlyq.com",
                        "password": "sqk_live_…",
                    },
                },
                "conn-fields": {
                    "profile_id": _conn_field(
                        "Profile ID",
                        "Managed sub-account to act for (sent as X-Profile-Id). "
                        "Leave empty for the key's own account.",
                        "integer",
                        minimum=1,
                    ),
                    "timeout": _conn_field(
                        "Timeout (seconds)",
                        "Seconds to wait for each API answer. Default 30.",
                        "number",
                        exclusiveMinimum=0,
                    ),
                    "ca_bundle": _conn_field(
                        "CA bundle path",
                        "PEM file of the certificate authorities to trust, for a "
                        "TLS-intercepting proxy or the emulator's --tls certificate. Empty: system CAs.",
                        "string",
                    ),
                    "max_retries": _conn_field(
                        "Max retries",
                        "Retries on connection errors, timeouts and 429/500/502/503/504 answers. Default 5.",
                        "integer",
                        minimum=0,
                        maximum=20,
                    ),
                    "webhook_secret": _conn_field(
                        "Webhook secret",
                        "Signing secret of the SmartlyQ webhook that posts to "
                        "/smartlyq/webhooks/<connection id> on the api-server. Empty: the endpoint "
                        "refuses every delivery.",
                        "string",
                        format="password",  # masked in the form, like the API key
                    ),
                    "budget_reserve": _conn_field(
                        "Budget reserve",
                        "Share of each rate-limit window that trigger polls leave to "
                        "writes and task reads (0 to 0.9). Default 0.2.",
                        "number",
                        minimum=0,
                        maximum=0.9,
                    ),
                    "budget_max_wait": _conn_field(
                        "Budget max wait (seconds)",
                        "Longest wait of a request for the key's shared request budget "
                        "before it fails with SmartlyQRateLimitError. Default 300.",
                        "number",
                        minimum=0,
                    ),
                    "request_budget": _conn_field(
                        "Request budget",
                        "Share SmartlyQ's rate limit between all hooks of a process, "
                        "fed by X-RateLimit headers. Default on; switch off only to compare.",
                        "boolean",
                    ),
                },
            }
        ],
    }
