"""
Control API under ``/_emulator/`` (the emulator's own, not SmartlyQ's).

Tests and demos use it to play the user (approve a connect link), shape data, inject faults
and read the request and write logs. When a control token is configured every route except
``GET /_emulator/health`` needs it in ``X-Emulator-Token``.

Browsers must not be able to drive it from another site (a page the developer visits could
otherwise reset or read the emulator on localhost): every guarded route refuses a foreign
``Origin`` or ``Sec-Fetch-Site: cross-site``, writes need ``Content-Type: application/json``
(which a cross-site form or ``fetch`` cannot send without a CORS preflight the emulator never
grants), and without a token only loopback clients with a loopback ``Host`` are served (no DNS
rebinding).
"""

from __future__ import annotations

import hmac
import itertools
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse  # noqa: TC002 -- FastAPI evaluates route annotations at runtime
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from airflow_provider_smartlyq.emulator.config import (
    PLATFORMS,
    check_rate_scope,
    check_rate_window,
    is_loopback,
)
from airflow_provider_smartlyq.emulator.envelope import ok
from airflow_provider_smartlyq.emulator.faults import parse_fault
from airflow_provider_smartlyq.emulator.models import WRITE_CONTEXT, ApiError
from airflow_provider_smartlyq.emulator.routes import get_state, optional_str, read_json

_fault_ids = itertools.count(1)


_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _forbidden(message: str) -> ApiError:
    return ApiError(403, "FORBIDDEN", message, {})


def _host_name(value: str) -> str:
    """Return the host part of a ``Host`` header value (``[::1]:8765`` -> ``::1``)."""
    return urlsplit(f"//{value}").hostname or ""


def check_control_request(request: Request) -> None:
    """
    Refuse control requests a browser could send from another site, or a stranger could send.

    :raises ApiError: 401 wrong token, 403 cross-site or non-local without a token, 415 a write
        without a JSON content type.
    """
    config = get_state(request).config
    headers = request.headers
    host = headers.get("host", "")
    origin = headers.get("origin")
    if origin is not None and (origin == "null" or urlsplit(origin).netloc.lower() != host.lower()):
        raise _forbidden("Cross-origin requests to the control API are refused.")
    if headers.get("sec-fetch-site", "").lower() == "cross-site":
        raise _forbidden("Cross-site requests to the control API are refused.")
    if config.control_token:
        given = headers.get("x-emulator-token", "")
        if not hmac.compare_digest(given.encode(), config.control_token.encode()):
            raise ApiError(401, "UNAUTHORIZED", "Missing or wrong X-Emulator-Token.", {})
    else:
        client = request.client.host if request.client else None
        if not is_loopback(client):
            raise _forbidden("Without a control token the control API answers loopback clients only.")
        public = urlsplit(config.public_url).hostname if config.public_url else None
        name = _host_name(host)
        if not (is_loopback(name) or (public is not None and name == public)):
            # A DNS-rebinding page reaches 127.0.0.1 under its own name: refuse foreign names.
            raise _forbidden("Without a control token the control API answers loopback host names only.")
    if request.method in _WRITE_METHODS:
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise ApiError(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                "Control API writes need Content-Type: application/json (send {} when there is no body).",
                {},
            )


async def require_control(request: Request) -> None:
    """Refuse unsafe control requests (see :func:`check_control_request`); mark writes as control."""
    check_control_request(request)
    # Runs in the request's task, so the route's writes see it.
    WRITE_CONTEXT.set({"source": "control"})


router = APIRouter(prefix="/_emulator", include_in_schema=False)
guarded = APIRouter(dependencies=[Depends(require_control)])


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """Answer readiness (never guarded)."""
    return ok(request, {"ok": True})


@guarded.post("/connect/latest/approve")
async def approve_latest_connect(request: Request) -> JSONResponse:
    """Approve the most recently created pending connect (or reconnect) link, no token needed."""
    body = await read_json(request)
    name, username = optional_str(body, "name"), optional_str(body, "username")
    platform = optional_str(body, "platform")
    state = get_state(request)
    with state.lock:  # no other link may become the latest between finding and approving it
        token = state.latest_pending_token(platform)
        accounts = state.approve_session(token, name, username)
    return ok(request, {"state_token": token, "accounts": [a.to_control(state.clock()) for a in accounts]})


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


#: Largest |validity_days|: a century either way (timedelta overflows near 2.7 million days).
MAX_VALIDITY_DAYS = 36500


def _refuse_null(value: Any) -> Any:
    """Refuse an explicit null where "absent" means "unchanged" (None must not be stored)."""
    if value is None:
        raise ValueError("must not be null (leave the field out instead)")
    return value


class _AccountFields(BaseModel):
    """Fields the control API may set on an account; everything is checked before anything changes."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr | None = Field(None, min_length=1, max_length=255)
    username: StrictStr | None = Field(None, max_length=255)
    profile_id: StrictInt | None = Field(None, ge=1)
    validity_days: float | None = Field(
        None, ge=-MAX_VALIDITY_DAYS, le=MAX_VALIDITY_DAYS, allow_inf_nan=False, strict=True
    )
    status: Literal["connected", "expired", "error"] | None = None
    paused: StrictBool | None = None

    _not_null = field_validator("name", "username", "validity_days", "status", "paused", mode="before")(
        _refuse_null
    )


class AccountCreate(_AccountFields):
    """Body of ``POST /_emulator/accounts``."""

    platform: Literal[PLATFORMS]  # type: ignore[valid-type]
    name: StrictStr = Field(min_length=1, max_length=255)


class AccountPatch(_AccountFields):
    """Body of ``PATCH /_emulator/accounts/{id}``; ``token_expires_at`` needs a UTC offset."""

    token_expires_at: AwareDatetime | None = None


def _parse(model: type[BaseModel], body: dict[str, Any]) -> dict[str, Any]:
    """Validate ``body`` against ``model``; return only the fields sent, or raise ``422``."""
    try:
        parsed = model.model_validate(body)
    except ValidationError as exc:
        problems = exc.errors(include_url=False, include_input=False)
        fields = sorted({str(e["loc"][0]) for e in problems if e.get("loc")})
        unknown = sorted(str(e["loc"][0]) for e in problems if e.get("type") == "extra_forbidden")
        message = (
            f"Unknown fields: {', '.join(unknown)}"
            if unknown
            else "Invalid fields: "
            + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in problems)
        )
        raise ApiError(422, "VALIDATION_ERROR", message, {"fields": fields}) from None
    return parsed.model_dump(exclude_unset=True)


@guarded.post("/accounts")
async def add_account(request: Request) -> JSONResponse:
    """Create an account directly (no connect flow)."""
    fields = _parse(AccountCreate, await read_json(request))
    state = get_state(request)
    return ok(request, state.add_account(**fields).to_control(state.clock()), 201)


@guarded.patch("/accounts/{account_id}")
async def update_account(request: Request, account_id: int) -> JSONResponse:
    """Change an account's validity, status, paused flag, names or profile."""
    fields = _parse(AccountPatch, await read_json(request))
    state = get_state(request)
    account = state.update_account(account_id, fields)
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


@guarded.get("/rate-limit")
async def rate_limit_usage(request: Request) -> JSONResponse:
    """Answer the rate-limit settings and the usage per window: requests, 429s, the busiest window."""
    return ok(request, get_state(request).rate_limit_report())


class RateLimitChange(BaseModel):
    """Body of ``PATCH /_emulator/rate-limit``: what changes until the next reset (others stay)."""

    model_config = ConfigDict(extra="forbid")

    limit: StrictInt | None = Field(None, ge=0)
    window_seconds: Annotated[float, BeforeValidator(check_rate_window)] | None = None
    scope: Annotated[str, BeforeValidator(check_rate_scope)] | None = None

    _not_null = field_validator("limit", "window_seconds", "scope", mode="before")(_refuse_null)


@guarded.patch("/rate-limit")
async def change_rate_limit(request: Request) -> JSONResponse:
    """Change ``limit``, ``window_seconds`` or ``scope`` until the next reset (counts start afresh)."""
    changes = _parse(RateLimitChange, await read_json(request))
    state = get_state(request)
    with state.lock:
        state.rate_override.update(changes)
        state.rate_windows.clear()  # new rules start a new count, and a new report
        state.rate_usage.clear()
    return ok(request, state.rate_limit_report())


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
