"""
The FastAPI app the SmartlyQ plugin mounts on the api-server (under ``/smartlyq``).

Routes and who may call them:

``GET /accounts``, ``GET /api/connections``, ``GET /api/connections/{connection_id}/accounts``,
``POST /api/connections/{connection_id}/accounts/{account_id}/reconnect``
    The accounts view, its data and the reconnect action: Airflow users allowed to read
    connections (Airflow's own ``requires_access_connection("GET")``, through the auth manager:
    401 without a login, 403 without access). Plugin routes are not protected by default;
    every one of these declares the dependency.
``POST /webhooks/{conn_id}``
    SmartlyQ's signed deliveries: authenticated by the signature (the connection's
    ``webhook_secret`` extra), not by an Airflow login. 401 for anything not signed right.
``GET /connected``
    The page a connect link's ``return_url`` lands on; it shows only what SmartlyQ appended.
"""

from __future__ import annotations

import asyncio
import html
import logging
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from airflow_provider_smartlyq._compat import api_connection_read_dependency
from airflow_provider_smartlyq.exceptions import SmartlyQSignatureError
from airflow_provider_smartlyq.plugins import accounts_data, webhook_events
from airflow_provider_smartlyq.webhooks import MAX_BODY_BYTES, parse_event

log = logging.getLogger(__name__)

#: Where the app is mounted on the api-server.
URL_PREFIX = "/smartlyq"

_NO_STORE = {"Cache-Control": "no-store"}


def _webhook_secret(conn_id: str) -> str | None:
    """Return the connection's ``webhook_secret`` extra, or ``None`` (no such connection or no secret)."""
    from airflow.models.connection import Connection

    try:
        conn = Connection.get_connection_from_secrets(conn_id)
    except Exception:  # unknown connection: answered like a bad signature (no probing of ids)
        return None
    secret = conn.extra_dejson.get("webhook_secret")
    return secret if isinstance(secret, str) and secret else None


def _unauthorized() -> JSONResponse:
    return JSONResponse({"detail": "invalid or missing SmartlyQ signature"}, status_code=401)


def create_app() -> FastAPI:
    """Return the plugin's FastAPI app (mounted under :data:`URL_PREFIX`)."""
    app = FastAPI(title="SmartlyQ", docs_url=None, redoc_url=None, openapi_url=None)
    readers = [Depends(api_connection_read_dependency())]

    @app.get("/accounts", response_class=HTMLResponse, dependencies=readers)
    def accounts_page() -> HTMLResponse:
        page = resources.files("airflow_provider_smartlyq.plugins").joinpath("static/accounts.html")
        return HTMLResponse(page.read_text(encoding="utf-8"), headers=_NO_STORE)

    @app.get("/api/connections", dependencies=readers)
    def list_connections() -> JSONResponse:
        return JSONResponse({"connections": accounts_data.smartlyq_connection_ids()}, headers=_NO_STORE)

    @app.get("/api/connections/{connection_id}/accounts", dependencies=readers)
    def connection_accounts(connection_id: str) -> JSONResponse:
        return JSONResponse(accounts_data.connection_health(connection_id), headers=_NO_STORE)

    @app.post("/api/connections/{connection_id}/accounts/{account_id}/reconnect", dependencies=readers)
    def reconnect(connection_id: str, account_id: int) -> JSONResponse:
        try:
            url = accounts_data.reconnect_url(connection_id, account_id)
        except Exception as exc:
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=502, headers=_NO_STORE)
        return JSONResponse({"account_id": account_id, "url": url}, headers=_NO_STORE)

    @app.post("/webhooks/{conn_id}")
    async def webhook(conn_id: str, request: Request) -> JSONResponse:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _unauthorized()
        raw = await request.body()
        secret = await asyncio.to_thread(_webhook_secret, conn_id)
        if secret is None:
            log.warning("SmartlyQ webhook for connection %s refused: no webhook_secret extra", conn_id)
            return _unauthorized()
        try:
            event = parse_event(raw, dict(request.headers), secret)
        except SmartlyQSignatureError as exc:
            log.warning("SmartlyQ webhook for connection %s refused: %s", conn_id, exc)
            return _unauthorized()
        outcome = await asyncio.to_thread(webhook_events.record_event, conn_id, event)
        return JSONResponse({"received": True, "event_id": event["id"], **outcome})

    @app.get("/connected", response_class=HTMLResponse)
    def connected(connected: str | None = None, platform: str | None = None) -> HTMLResponse:
        return HTMLResponse(connected_page(connected, platform))

    return app


def connected_page(connected: Any, platform: Any) -> str:
    """Return the connect return page, with SmartlyQ's ``connected`` and ``platform`` escaped."""
    details = []
    if connected is not None:
        details.append(f"<p>Accounts connected: <strong>{html.escape(str(connected))}</strong></p>")
    if platform is not None:
        details.append(f"<p>Platform: <strong>{html.escape(str(platform))}</strong></p>")
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        "<title>SmartlyQ account connected</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto}</style>"
        "</head><body><h1>SmartlyQ account connected, you can close this window</h1>"
        + "".join(details)
        + "</body></html>"
    )
