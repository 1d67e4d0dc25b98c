"""
Fault injection: canned error answers, delays, dropped connections, "acted but failed";
the server protocol that makes dropped connections possible (and answers parser errors in JSON).

Dropping a connection needs the TCP transport, which ASGI does not expose. The uvicorn
protocol classes built by :func:`transport_protocol_class` put it into each request's scope
under :data:`TRANSPORT_KEY`; the fault layer calls ``transport.abort()`` on it, so the
client sees the connection reset without any response bytes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import json
import logging
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from airflow_provider_smartlyq.emulator.envelope import (
    CONTEXT_KEY,
    error_body,
    error_response,
    new_request_id,
)
from airflow_provider_smartlyq.emulator.models import ApiError

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from airflow_provider_smartlyq.emulator.state import EmulatorState

log = logging.getLogger(__name__)

TRANSPORT_KEY = "smartlyq.transport"
CONTROL_PREFIX = "/_emulator/"


@dataclasses.dataclass
class FaultRule:
    """One injected fault; it answers the next ``count`` matching requests."""

    id: str
    method: str = "*"
    path: str = "*"
    status: int | None = None
    count: int = 1
    retry_after: str | None = None
    delay: float = 0.0
    body: str | None = None
    content_type: str | None = None
    code: str | None = None
    message: str | None = None
    drop_connection: bool = False
    after: bool = False
    hits: int = 0

    @property
    def remaining(self) -> int:
        """Return how many more requests this fault will answer."""
        return max(0, self.count - self.hits)

    def matches(self, method: str, path: str) -> bool:
        """Return whether the rule applies to a request (glob on the path, ``*`` method = any)."""
        method_ok = self.method == "*" or self.method.upper() == method.upper()
        return method_ok and self.remaining > 0 and fnmatch.fnmatchcase(path, self.path)

    def to_dict(self) -> dict[str, Any]:
        """Render the rule for the control API."""
        return {**dataclasses.asdict(self), "remaining": self.remaining}


_FIELDS = {f.name for f in dataclasses.fields(FaultRule)} - {"id", "hits"}


def parse_fault(body: dict[str, Any], fault_id: str) -> FaultRule:
    """
    Build a :class:`FaultRule` from a ``POST /_emulator/faults`` body.

    :raises ApiError: ``422 VALIDATION_ERROR`` for unknown fields or an empty fault.
    """
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise ApiError(
            422, "VALIDATION_ERROR", f"Unknown fault fields: {', '.join(unknown)}", {"fields": unknown}
        )
    if "path" not in body:
        raise ApiError(422, "VALIDATION_ERROR", "A fault needs a path (exact or glob).", {"fields": ["path"]})
    try:
        rule = FaultRule(id=fault_id, **body)
        rule.status = None if rule.status is None else int(rule.status)
        rule.count, rule.delay = int(rule.count), float(rule.delay or 0.0)
        rule.retry_after = None if rule.retry_after is None else str(rule.retry_after)
    except (TypeError, ValueError) as exc:
        raise ApiError(422, "VALIDATION_ERROR", f"Invalid fault: {exc}", {}) from None
    if rule.status is None and not rule.drop_connection and not rule.delay:
        message = "A fault needs status, delay or drop_connection."
        raise ApiError(422, "VALIDATION_ERROR", message, {"fields": ["status", "delay", "drop_connection"]})
    if rule.after and rule.status is None and not rule.drop_connection:
        raise ApiError(422, "VALIDATION_ERROR", "after=true needs status or drop_connection.", {})
    return rule


class FaultMiddleware:
    """ASGI layer answering matching requests with the configured faults."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    def _take(self, method: str, path: str) -> FaultRule | None:
        with self.state.lock:
            for rule in self.state.faults:
                if rule.matches(method, path):
                    rule.hits += 1
                    return rule
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        rule = self._take(scope["method"], scope["path"])
        if rule is None:
            await self.app(scope, receive, send)
            return
        context = scope.get(CONTEXT_KEY)
        if context is not None:
            context["fault"] = rule.id
        if rule.delay:
            await asyncio.sleep(rule.delay)
        answers = rule.status is not None or rule.drop_connection
        if not answers:
            await self.app(scope, receive, send)  # delay only: then behave normally
            return
        if rule.after:
            await self.app(scope, receive, _discard)  # the server acts; the client never hears
        if context is not None:
            context["fault_answered"] = True
        if rule.drop_connection:
            await _drop(scope)
            return
        await _fault_response(scope, rule)(scope, receive, send)


async def _discard(message: Message) -> None:
    return None


def _fault_response(scope: Scope, rule: FaultRule) -> Response:
    status = rule.status or 503
    headers = {"Retry-After": rule.retry_after} if rule.retry_after is not None else None
    if rule.body is not None:
        media_type = rule.content_type or (
            "text/html" if rule.body.lstrip().startswith("<") else "text/plain"
        )
        return Response(rule.body, status_code=status, media_type=media_type, headers=headers)
    details = {"fault_id": rule.id}
    if rule.retry_after is not None and rule.retry_after.isdigit():
        details["retry_after"] = int(rule.retry_after)  # type: ignore[assignment]
    return error_response(scope, status, rule.code, rule.message or "Injected fault.", details, headers)


async def _drop(scope: Scope) -> None:
    transport = scope.get(TRANSPORT_KEY)
    if transport is None:
        # Not served by our protocol class (e.g. another server): nothing better than no answer.
        log.warning("drop_connection fault without a transport in scope; returning no response")
        return
    transport.abort()
    # Let uvicorn run connection_lost() so it marks the cycle disconnected and does not try to
    # answer "ASGI callable returned without starting response" with a 500.
    for _ in range(3):
        await asyncio.sleep(0)


def transport_protocol_class() -> type[asyncio.Protocol]:
    """Return a uvicorn HTTP protocol class that exposes its transport in the ASGI scope."""
    base: type[Any]
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base = HttpToolsProtocol
    except ImportError:  # httptools is optional; h11 always ships with uvicorn
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol

    class TransportExposingProtocol(base):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            inner: Any = getattr(self, "app")  # noqa: B009 -- base class is chosen at run time

            async def app(scope: Scope, receive: Receive, send: Send) -> None:
                scope[TRANSPORT_KEY] = self.transport
                await inner(scope, receive, send)

            self.app = app

        def send_400_response(self, msg: str) -> None:
            # A request the HTTP parser refuses (a forbidden character in the target or in a
            # header) never reaches the app, and uvicorn answers it in plain text. SmartlyQ
            # answers every error in its envelope, so the emulator does too: one error shape.
            request_id = new_request_id()
            payload = json.dumps(error_body("BAD_REQUEST", msg, None, request_id)).encode()
            head = [b"HTTP/1.1 400 Bad Request\r\n"]
            head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
            head += [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(payload)).encode() + b"\r\n",
                b"x-request-id: " + request_id.encode() + b"\r\n",
                b"connection: close\r\n\r\n",
            ]
            self.transport.write(b"".join(head) + payload)
            self.transport.close()

    return TransportExposingProtocol
