"""
Control API under ``/_emulator/`` (the emulator's own, not SmartlyQ's).

Tests and demos use it to play the user (approve a connect link), shape data, inject faults
and read the request and write logs. When a control token is configured every route except
``GET /_emulator/health`` needs it in ``X-Emulator-Token``.
"""

from __future__ import annotations

import hmac
import itertools
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse  # noqa: TC002 -- FastAPI evaluates route annotations at runtime

from airflow_provider_smartlyq.emulator.config import PLATFORMS
from airflow_provider_smartlyq.emulator.envelope import ok
from airflow_provider_smartlyq.emulator.faults import parse_fault
from airflow_provider_smartlyq.emulator.models import WRITE_CONTEXT, ApiError
from airflow_provider_smartlyq.emulator.routes import get_state, optional_str, read_json

_fault_ids = itertools.count(1)


async def require_control(request: Request) -> None:
    """Check ``X-Emulator-Token`` when a control token is configured; mark writes as control."""
    expected = get_state(request).config.control_token
    if expected:
        given = request.headers.get("x-emulator-token", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise ApiError(401, "UNAUTHORIZED", "Missing or wrong X-Emulator-Token.", {})
    # Runs in the request's task, so the route's writes see it.
    WRITE_CONTEXT.set({"source": "control"})


router = APIRouter(prefix="/_emulator", include_in_schema=False)
guarded = APIRouter(dependencies=[Depends(require_control)])


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """Answer readiness (never guarded)."""
    return ok(request, {"ok": True})


@guarded.post("/connect/{state_token}/approve")
async def approve_connect(request: Request, state_token: str) -> JSONResponse:
    """Approve a pending connect session; answer the connected account(s)."""
    body = await read_json(request)
    name, username = optional_str(body, "name"), optional_str(body, "username")
    state = get_state(request)
    accounts = state.approve_session(state_token, name, username)
    return ok(request, [a.to_control(state.clock()) for a in accounts])


@guarded.post("/connect/{state_token}/expire")
async def expire_connect(request: Request, state_token: str) -> JSONResponse:
    """Expire a pending connect session now."""
    return ok(request, get_state(request).expire_session(state_token).to_control())


_ACCOUNT_FIELDS = {"platform", "name", "username", "profile_id", "validity_days", "status", "paused"}
_PATCH_FIELDS = {"name", "username", "profile_id", "validity_days", "status", "paused", "token_expires_at"}


def _check_fields(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(422, "VALIDATION_ERROR", f"Unknown fields: {', '.join(unknown)}", {"fields": unknown})
    if body.get("status") not in (None, "connected", "expired", "error"):
        raise ApiError(
            422, "VALIDATION_ERROR", "status must be connected, expired or error.", {"fields": ["status"]}
        )


@guarded.post("/accounts")
async def add_account(request: Request) -> JSONResponse:
    """Create an account directly (no connect flow)."""
    body = await read_json(request)
    _check_fields(body, _ACCOUNT_FIELDS)
    if body.get("platform") not in PLATFORMS or not isinstance(body.get("name"), str):
        message = "platform (a supported platform) and name are required."
        raise ApiError(422, "VALIDATION_ERROR", message, {"fields": ["platform", "name"]})
    state = get_state(request)
    return ok(request, state.add_account(**body).to_control(state.clock()), 201)


@guarded.patch("/accounts/{account_id}")
async def update_account(request: Request, account_id: int) -> JSONResponse:
    """Change an account's validity, status, paused flag, names or profile."""
    body = await read_json(request)
    _check_fields(body, _PATCH_FIELDS)
    state = get_state(request)
    try:
        account = state.update_account(account_id, body)
    except (TypeError, ValueError) as exc:
        raise ApiError(422, "VALIDATION_ERROR", f"Invalid field value: {exc}", {}) from None
    return ok(request, account.to_control(state.clock()))


@guarded.post("/accounts/{account_id}/expire-token")
async def expire_account_token(request: Request, account_id: int) -> JSONResponse:
    """Make an account's token expire now."""
    state = get_state(request)
    return ok(request, state.expire_token(account_id).to_control(state.clock()))


@guarded.post("/faults")
async def add_fault(request: Request) -> JSONResponse:
    """Register a fault; it answers the next ``count`` matching requests."""
    rule = parse_fault(await read_json(request), f"flt_{next(_fault_ids)}")
    state = get_state(request)
    with state.lock:
        state.faults.append(rule)
    return ok(request, rule.to_dict(), 201)


@guarded.get("/faults")
async def list_faults(request: Request) -> JSONResponse:
    """List registered faults with their remaining counts."""
    state = get_state(request)
    with state.lock:
        return ok(request, [rule.to_dict() for rule in state.faults])


@guarded.delete("/faults")
async def clear_faults(request: Request) -> JSONResponse:
    """Remove every fault."""
    state = get_state(request)
    with state.lock:
        cleared = len(state.faults)
        state.faults.clear()
    return ok(request, {"cleared": cleared})


@guarded.get("/requests")
async def request_log(request: Request) -> JSONResponse:
    """Answer the request log (every ``/v1`` request, oldest first)."""
    state = get_state(request)
    with state.lock:
        return ok(request, list(state.requests))


@guarded.get("/writes")
async def write_log(request: Request) -> JSONResponse:
    """Answer the write log (one entry per effective state change, oldest first)."""
    state = get_state(request)
    with state.lock:
        state.tick()  # auto-approvals due by now belong in the log
        return ok(request, list(state.writes))


@guarded.get("/state")
async def dump_state(request: Request) -> JSONResponse:
    """Answer every account and connect session."""
    return ok(request, get_state(request).snapshot())


@guarded.post("/reset")
async def reset(request: Request) -> JSONResponse:
    """Re-seed and clear logs, faults and idempotency keys."""
    body = await read_json(request)
    state = get_state(request)
    seed = body.get("seed") or state.config.seed
    if seed not in ("demo", "empty"):
        raise ApiError(422, "VALIDATION_ERROR", "seed must be 'demo' or 'empty'.", {"fields": ["seed"]})
    state.reset(seed)
    return ok(request, {"seed": seed, "accounts": len(state.accounts)})


router.include_router(guarded)
