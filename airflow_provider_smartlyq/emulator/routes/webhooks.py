"""
``/v1/webhooks``: subscribe loopback endpoints to signed event deliveries; and the delivery log.

``POST /v1/webhooks`` takes ``{url, events[], secret?}`` (``secret`` is an emulator extension so
tests can choose it; SmartlyQ generates one) and answers ``201 {id, url, events, status, secret}``.
``GET /v1/webhooks`` lists subscriptions and the event catalog, ``DELETE /v1/webhooks/{id}``
removes one. ``GET /_emulator/webhooks/deliveries`` (control API) shows every delivery attempt.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse  # noqa: TC002 -- FastAPI evaluates route annotations at runtime

from airflow_provider_smartlyq.emulator.envelope import ok
from airflow_provider_smartlyq.emulator.routes import get_state, read_json
from airflow_provider_smartlyq.emulator.routes.control import require_control
from airflow_provider_smartlyq.emulator.webhooks_state import EVENT_CATALOG

router = APIRouter()


@router.post("/v1/webhooks")
async def create_webhook(request: Request) -> JSONResponse:
    """Subscribe an endpoint; the signing secret is shown only in this answer."""
    body = await read_json(request)
    record = get_state(request).create_webhook(body.get("url"), body.get("events"), body.get("secret"))
    fields = ("id", "url", "events", "status", "secret")
    return ok(request, {k: record[k] for k in fields}, 201)


@router.get("/v1/webhooks")
async def list_webhooks(request: Request) -> JSONResponse:
    """List subscriptions (without secrets) and the subscribable event names."""
    return ok(request, {"webhooks": get_state(request).list_webhooks(), "events": list(EVENT_CATALOG)})


@router.delete("/v1/webhooks/{webhook_id}")
async def delete_webhook(request: Request, webhook_id: int) -> JSONResponse:
    """Remove a subscription; pending retries to it stop."""
    get_state(request).delete_webhook(webhook_id)
    return ok(request, None)


@router.get(
    "/_emulator/webhooks/deliveries", include_in_schema=False, dependencies=[Depends(require_control)]
)
async def delivery_log(request: Request) -> JSONResponse:
    """Answer every delivery attempt, oldest first (control API)."""
    state = get_state(request)
    with state.lock:
        return ok(request, list(state.webhook_deliveries))
