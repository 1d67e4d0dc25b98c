"""
ASGI layers in front of the ``/v1`` routes: request context and log, auth, rate limit.

Order (outermost first): :class:`GatewayMiddleware` → fault injection → :class:`AuthMiddleware`
→ idempotency → routes. Faults sit outside auth because they model the edge in front of
SmartlyQ; the gateway sits outside faults so that the request log sees every answer.
"""

from __future__ import annotations

import hmac
import math
import time
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers, MutableHeaders

from airflow_provider_smartlyq.emulator.envelope import (
    CONTEXT_KEY,
    error_response,
    new_request_id,
    rate_limit_headers,
)
from airflow_provider_smartlyq.emulator.models import WRITE_CONTEXT, iso, utcnow

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from airflow_provider_smartlyq.emulator.state import EmulatorState

API_PREFIX = "/v1"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: POST routes that only read (the spec gives them scope ``social:read``).
READ_SCOPE_POSTS = frozenset({API_PREFIX + "/social/validate/post"})


def _is_read(method: str, path: str) -> bool:
    """Return whether a ``social:read`` key may make this request."""
    return method in READ_METHODS or (method == "POST" and path in READ_SCOPE_POSTS)


def is_api_request(scope: Scope) -> bool:
    """Return whether ``scope`` is an HTTP request to SmartlyQ's ``/v1`` API."""
    path: str = scope.get("path", "")
    return scope["type"] == "http" and (path == API_PREFIX or path.startswith(API_PREFIX + "/"))


def key_label(state: EmulatorState, authorization: str | None) -> str | None:
    """
    Return which configured key ``authorization`` carries: ``primary``, ``read_only``, ``unknown``.

    ``None`` means no usable ``Bearer`` header. Labels, never keys, go into logs and caches.
    """
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    config = state.config
    if hmac.compare_digest(token.encode(), config.api_key.encode()):
        return "primary"
    if config.read_only_key and hmac.compare_digest(token.encode(), config.read_only_key.encode()):
        return "read_only"
    return "unknown"


class _ApiLayer:
    """An ASGI layer that handles requests to the ``/v1`` API and passes everything else on."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_api_request(scope):
            await self.handle(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class GatewayMiddleware(_ApiLayer):
    """Assign request ids, add ``X-Request-Id``/``X-RateLimit-*`` headers, log every request."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        label = key_label(self.state, headers.get("authorization"))
        context: dict[str, Any] = {
            "request_id": new_request_id(),
            "key_label": label,
            "profile_id": None,
            "idempotency_key": headers.get("x-idempotency-key"),
            "replay": False,
            "fault": None,
            "fault_answered": False,
            "rate": None,
        }
        scope[CONTEXT_KEY] = context
        generation = self.state.generation
        status: list[int] = []

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                out = MutableHeaders(scope=message)
                out["X-Request-Id"] = context["request_id"]
                rate = context["rate"] or self.state.rate_hit(
                    label or "anonymous", time.time(), consume=False
                )
                for name, value in rate_limit_headers(*rate[:3]).items():
                    out[name] = value
            await send(message)

        write_context = {
            "source": "api",
            "request_id": context["request_id"],
            "idempotency_key": context["idempotency_key"],
        }
        token = WRITE_CONTEXT.set(write_context)
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            WRITE_CONTEXT.reset(token)
            self.state.record_request(self._log_entry(scope, headers, context, status), generation)

    @staticmethod
    def _log_entry(
        scope: Scope, headers: Headers, context: dict[str, Any], status: list[int]
    ) -> dict[str, Any]:
        raw_profile = headers.get("x-profile-id")
        return {
            "request_id": context["request_id"],
            "timestamp": iso(utcnow()),
            "method": scope["method"],
            "path": scope["path"],
            "query": scope.get("query_string", b"").decode("latin-1"),
            "status": status[0] if status else None,
            "key": context["key_label"],
            "idempotency_key": context["idempotency_key"],
            "profile_id": context["profile_id"] if context["profile_id"] is not None else raw_profile,
            "replay": context["replay"],
            "fault_id": context["fault"],
            "fault": context["fault_answered"],
            "dropped": not status,
        }


class AuthMiddleware(_ApiLayer):
    """Check the Bearer key and its scope, enforce the rate limit, parse ``X-Profile-Id``."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        context = scope[CONTEXT_KEY]
        response = self._reject(scope, context)
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _reject(self, scope: Scope, context: dict[str, Any]) -> Any:
        label = context["key_label"]
        if label is None:
            return error_response(scope, 401, "UNAUTHORIZED", "Missing or malformed Authorization header.")
        if label == "unknown":
            return error_response(scope, 401, "INVALID_API_KEY", "The API key is invalid or revoked.")
        context["rate"] = self.state.rate_hit(label, time.time())
        limit, _, reset, exceeded = context["rate"]
        if exceeded:
            # Whole seconds, rounded up: a client that waits exactly this long finds a new window.
            retry_after = max(1, math.ceil(reset - time.time()))
            window = self.state.rate_settings()[1]
            per = "minute" if window == 60 else f"{window:g} seconds"
            message = f"Rate limit of {limit} requests per {per} exceeded. Retry after {retry_after} seconds."
            details = {"retry_after": retry_after, "limit": limit}
            headers = {"Retry-After": str(retry_after)}
            return error_response(scope, 429, "RATE_LIMIT_EXCEEDED", message, details, headers)
        if label == "read_only" and not _is_read(scope["method"], scope["path"]):
            message = "API key lacks required scope: social:write"
            return error_response(scope, 403, "FORBIDDEN", message, {"required_scope": "social:write"})
        raw_profile = Headers(scope=scope).get("x-profile-id")
        if raw_profile is not None:
            try:
                context["profile_id"] = int(raw_profile.strip())
            except ValueError:
                message = "X-Profile-Id must be an integer profile id."
                return error_response(scope, 400, "BAD_REQUEST", message, {"header": "X-Profile-Id"})
        return None
