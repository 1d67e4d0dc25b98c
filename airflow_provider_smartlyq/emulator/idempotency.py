"""``X-Idempotency-Key`` handling: remember answers of writes and replay them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq.emulator.envelope import CONTEXT_KEY, error_response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from airflow_provider_smartlyq.emulator.state import EmulatorState

KEY_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Answers worth remembering: success and deterministic client errors. 5xx, conflicts, rate
# limits and 402 stay retryable with the same key: SmartlyQ documents replaying "the original
# post", and a client that tops up its credits must not get the old 402 back for 24 hours.
_UNCACHED_STATUSES = frozenset({402, 408, 409, 425, 429})
#: Creates whose replay answers 200 (the spec: "the retry returns the original post with HTTP 200").
_REPLAY_200_PATHS = frozenset({"/v1/social/posts", "/v1/social/posts/schedule"})


@dataclasses.dataclass
class StoredAnswer:
    """One remembered answer (``status is None`` while the first request is still running)."""

    fingerprint: str
    stored_at: float
    status: int | None = None
    headers: list[tuple[bytes, bytes]] = dataclasses.field(default_factory=list)
    body: bytes = b""


class IdempotencyCache:
    """Answers by ``(api key label, idempotency key)``, forgotten after ``ttl`` seconds."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], StoredAnswer] = {}

    def clear(self) -> None:
        """Forget every key."""
        with self._lock:
            self._entries.clear()

    def begin(self, scope_key: tuple[str, str], fingerprint: str) -> StoredAnswer | None:
        """Return the stored answer for ``scope_key``, or reserve the key and return ``None``."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(scope_key)
            if entry is not None and now - entry.stored_at <= self.ttl:
                return entry
            self._entries[scope_key] = StoredAnswer(fingerprint=fingerprint, stored_at=now)
            return None

    def finish(
        self, scope_key: tuple[str, str], status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        """Store the answer of a reserved key, or release the key when it must stay retryable."""
        with self._lock:
            entry = self._entries.get(scope_key)
            if entry is None:
                return
            if status >= 500 or status in _UNCACHED_STATUSES:
                del self._entries[scope_key]
                return
            entry.status, entry.headers, entry.body = status, headers, body

    def release(self, scope_key: tuple[str, str]) -> None:
        """Drop a reservation whose request failed before answering."""
        with self._lock:
            entry = self._entries.get(scope_key)
            if entry is not None and entry.status is None:
                del self._entries[scope_key]


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    """Hash what makes two requests "the same": method, path, query and the JSON body's meaning."""
    try:
        canonical = (
            json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode() if body else b""
        )
    except ValueError:
        canonical = body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, canonical):
        digest.update(part + b"\0")
    return digest.hexdigest()


def _replay_body(body: bytes) -> bytes:
    # Mark replays inside dict payloads too, as SmartlyQ does on posts.
    try:
        document = json.loads(body)
    except ValueError:
        return body
    if isinstance(document, dict) and isinstance(document.get("data"), dict):
        document["data"]["idempotent_replay"] = True
        return json.dumps(document, separators=(",", ":")).encode()
    return body


class IdempotencyMiddleware:
    """ASGI layer replaying remembered answers of ``/v1`` writes carrying ``X-Idempotency-Key``."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        context: dict[str, Any] | None = scope.get(CONTEXT_KEY)
        key = context.get("idempotency_key") if context else None
        if context is None or key is None or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        if not KEY_PATTERN.fullmatch(key):
            response = error_response(
                scope,
                400,
                "VALIDATION_ERROR",
                "X-Idempotency-Key must be 1-64 characters of A-Z a-z 0-9 . _ : -",
                {"fields": ["X-Idempotency-Key"]},
            )
            await response(scope, receive, send)
            return
        body = await _read_body(receive)
        print_ = fingerprint(scope["method"], scope["path"], scope.get("query_string", b""), body)
        scope_key = (context["key_label"], key)
        stored = self.state.idempotency.begin(scope_key, print_)
        if stored is not None:
            await self._answer_stored(scope, receive, send, stored, print_)
            return
        await self._run_and_store(scope, body, send, scope_key)

    async def _answer_stored(
        self, scope: Scope, receive: Receive, send: Send, stored: StoredAnswer, print_: str
    ) -> None:
        if stored.fingerprint != print_:
            message = "X-Idempotency-Key was already used with a different request."
            response = error_response(scope, 409, "IDEMPOTENCY_CONFLICT", message, {})
        elif stored.status is None:
            message = "A request with this X-Idempotency-Key is still in progress."
            response = error_response(scope, 409, "IDEMPOTENCY_CONFLICT", message, {"in_progress": True})
        else:
            scope[CONTEXT_KEY]["replay"] = True
            body = _replay_body(stored.body)
            headers = [
                (k, v) for k, v in stored.headers if k.lower() not in (b"content-length", b"x-request-id")
            ]
            headers += [(b"content-length", str(len(body)).encode()), (b"x-idempotent-replay", b"true")]
            status = 200 if stored.status == 201 and scope["path"] in _REPLAY_200_PATHS else stored.status
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await response(scope, receive, send)

    async def _run_and_store(self, scope: Scope, body: bytes, send: Send, scope_key: tuple[str, str]) -> None:
        sent = False

        async def replay_receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        captured: dict[str, Any] = {"status": None, "headers": [], "body": bytearray()}

        async def capture_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, replay_receive, capture_send)
        finally:
            if captured["status"] is None:
                self.state.idempotency.release(scope_key)
            else:
                self.state.idempotency.finish(
                    scope_key, captured["status"], captured["headers"], bytes(captured["body"])
                )


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
