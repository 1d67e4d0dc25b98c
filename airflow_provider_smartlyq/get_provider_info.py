"""Describe the provider to Airflow (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_smartlyq import __version__

_INTEGRATION = "SmartlyQ"
_PACKAGE = "airflow_provider_smartlyq"


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
        "hooks": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.hooks.smartlyq"]}],
        "operators": [
            {"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.operators.smartlyq"]}
        ],
        "sensors": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.sensors.smartlyq"]}],
        "triggers": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.triggers.smartlyq"]}],
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
                    "profile_id": {
                        "label": "Profile ID",
                        "description": "Managed sub-account to act for (sent as X-Profile-Id). "
                        "Leave empty for the key's own account.",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "Seconds to wait for each API answer. Default 30.",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                    "ca_bundle": {
                        "label": "CA bundle path",
                        "description": "PEM file of the certificate authorities to trust, for a "
                        "TLS-intercepting proxy or the emulator's --tls certificate. Empty: system CAs.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Retries on connection errors, timeouts and 429/500/502/503/504 "
                        "answers. Default 5.",
                        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 20},
                    },
                    "webhook_secret": {
                        "label": "Webhook secret",
                        "description": "Signing secret of the SmartlyQ webhook that posts to "
                        "/smartlyq/webhooks/<connection id> on the api-server. Empty: the endpoint "
                        "refuses every delivery.",
                        # "password": masked in the form, like the API key.
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "budget_reserve": {
                        "label": "Budget reserve",
                        "description": "Share of each rate-limit window that trigger polls leave to "
                        "writes and task reads (0 to 0.9). Default 0.2.",
                        "schema": {"type": ["number", "null"], "minimum": 0, "maximum": 0.9},
                    },
                    "budget_max_wait": {
                        "label": "Budget max wait (seconds)",
                        "description": "Longest wait of a request for the key's shared request budget "
                        "before it fails with SmartlyQRateLimitError. Default 300.",
                        "schema": {"type": ["number", "null"], "minimum": 0},
                    },
                    "request_budget": {
                        "label": "Request budget",
                        "description": "Share SmartlyQ's rate limit between all hooks of a process, "
                        "fed by X-RateLimit headers. Default on; switch off only to compare.",
                        "schema": {"type": ["boolean", "null"]},
                    },
                },
            }
        ],
    }
