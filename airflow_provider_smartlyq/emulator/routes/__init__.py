"""
HTTP routes of the emulator, one module per API area.

A new area (posts, webhooks) adds a module with a ``router`` and lists it in :data:`AREAS`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq.emulator.envelope import CONTEXT_KEY
from airflow_provider_smartlyq.emulator.models import ApiError

if TYPE_CHECKING:
    from fastapi import Request

    from airflow_provider_smartlyq.emulator.state import EmulatorState

#: Route modules included by :func:`airflow_provider_smartlyq.emulator.app.create_app`, in order.
AREAS = ("me", "accounts", "connect", "control", "webhooks", "posts")


def get_state(request: Request) -> EmulatorState:
    """Return the emulator state the app serves."""
    state: EmulatorState = request.app.state.emulator
    return state


def profile_of(request: Request) -> int | None:
    """Return the ``X-Profile-Id`` the auth layer parsed (``None`` = main account)."""
    context = request.scope.get(CONTEXT_KEY) or {}
    profile: int | None = context.get("profile_id")
    return profile


async def read_json(request: Request) -> dict[str, Any]:
    """
    Return the JSON object body of ``request`` (``{}`` when empty).

    :raises ApiError: ``400 BAD_REQUEST`` for malformed JSON or a non-object body.
    """
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: deeply nested arrays or objects
        raise ApiError(400, "BAD_REQUEST", "The request body is not valid JSON.", {}) from None
    if not isinstance(body, dict):
        raise ApiError(400, "BAD_REQUEST", "The request body must be a JSON object.", {})
    return body


def optional_str(body: dict[str, Any], field: str) -> str | None:
    """Return ``body[field]`` when it is a string or absent; else raise ``422 VALIDATION_ERROR``."""
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise ApiError(422, "VALIDATION_ERROR", f"{field} must be a string.", {"fields": [field]})
    return value
