"""
Response check for the http provider's ``HttpEventTrigger`` (the peer in ``bench_triggerer``).

``HttpEventTrigger`` takes its check as a dotted path and re-imports it on every poll, so it
lives in a module of its own: ``response_checks.connect_status_is_connected``.
"""

from __future__ import annotations

from typing import Any


async def connect_status_is_connected(response: Any) -> bool:
    """Return whether a ``GET /v1/social/connect/{state_token}`` answer says ``connected``."""
    return response.json()["data"]["status"] == "connected"
