"""SmartlyQ's success and error envelopes, request ids and rate-limit headers."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse

from airflow_provider_smartlyq.emulator.models import ApiError, iso, utcnow

if TYPE_CHECKING:
    from collections.abc import Mapping

    from starlette.requests import Request
    from starlette.types import Scope

__all__ = ["CONTEXT_KEY", "ApiError", "error_response", "ok", "rate_limit_headers"]

#: Scope key of the per-request context dict the gateway fills for ``/v1`` requests:
#: ``request_id``, ``key_label``, ``profile_id``, ``idempotency_key``, ``replay``, ``fault``...
CONTEXT_KEY = "smartlyq.context"

#: Error code used when only a status is known (faults, framework errors).
CODE_FOR_STATUS = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    402: "INSUFFICIENT_BALANCE",
    403: "FORBIDDEN",
    404: "RESOURCE_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


def new_request_id() -> str:
    """Return a fresh ``req_<hex>`` request id."""
    return "req_" + uuid.uuid4().hex


def request_id_of(scope: Scope) -> str:
    """Return the request id the gateway assigned, or a fresh one outside ``/v1``."""
    context = scope.get(CONTEXT_KEY)
    if context is None:
        context = scope[CONTEXT_KEY] = {"request_id": new_request_id()}
    return str(context["request_id"])


def meta(request_id: str) -> dict[str, str]:
    """Return the ``meta`` block of an envelope."""
    return {"request_id": request_id, "timestamp": iso(utcnow())}


def success_body(data: Any, request_id: str, pagination: dict[str, int] | None = None) -> dict[str, Any]:
    """Return a success envelope around ``data``."""
    body: dict[str, Any] = {"success": True, "data": data, "meta": meta(request_id)}
    if pagination is not None:
        body["pagination"] = pagination
    return body


def error_body(code: str, message: str, details: dict[str, Any] | None, request_id: str) -> dict[str, Any]:
    """Return an error envelope."""
    return {
        "success": False,
        "error": {"code": code, "message": message, "details": details or {}},
        "meta": meta(request_id),
    }


def ok(request: Request, data: Any, status: int = 200) -> JSONResponse:
    """Answer ``data`` in a success envelope."""
    return JSONResponse(success_body(data, request_id_of(request.scope)), status_code=status)


def error_response(
    scope: Scope,
    status: int,
    code: str | None = None,
    message: str = "",
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Answer an error envelope (``code`` defaults from the status)."""
    code = code or CODE_FOR_STATUS.get(status, "ERROR")
    body = error_body(code, message or code.replace("_", " ").capitalize(), details, request_id_of(scope))
    return JSONResponse(body, status_code=status, headers=headers)


def api_error_response(scope: Scope, exc: ApiError) -> JSONResponse:
    """Answer an :class:`ApiError`."""
    return error_response(scope, exc.status, exc.code, exc.message, exc.details)


def rate_limit_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    """Return the ``X-RateLimit-*`` headers."""
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
    }
