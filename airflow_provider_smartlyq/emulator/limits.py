"""
Cap request bodies: the emulator answers ``413`` instead of buffering whatever a client sends.

Every route reads a small JSON object; 1 MiB is far above any real request (a post with the
longest content SmartlyQ accepts is a few tens of KB). The body is read here, up to the cap,
and replayed to the app, so a chunked upload without ``Content-Length`` is capped as well.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.datastructures import Headers

from airflow_provider_smartlyq.emulator.envelope import error_response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Largest request body accepted, in bytes.
MAX_BODY_BYTES = 1024 * 1024


class BodyLimitMiddleware:
    """Answer ``413 PAYLOAD_TOO_LARGE`` for bodies over :data:`MAX_BODY_BYTES`, before any route runs."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                replay: list[Message] = [message]
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
                break

        async def replayed() -> Message:
            return replay.pop(0) if replay else await receive()

        await self.app(scope, replayed, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"The request body is larger than {self.max_bytes} bytes."
        response = error_response(scope, 413, "PAYLOAD_TOO_LARGE", message, {"max_bytes": self.max_bytes})
        response.headers["Connection"] = "close"  # the unread rest of the body must not be parsed
        await response(scope, receive, send)
