"""``GET /v1/me``: the profile of the key's user."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse  # noqa: TC002 -- FastAPI evaluates route annotations at runtime

from airflow_provider_smartlyq.emulator.envelope import ok

router = APIRouter(prefix="/v1")

USER_PROFILE = {
    "id": 4242,
    "name": "SmartlyQ Emulator",
    "email": "emulator@example.com",
    "plan": "emulator",
    "created_at": "2026-01-01T00:00:00Z",
}


@router.get("/me")
async def get_me(request: Request) -> JSONResponse:
    """Answer the user profile (``UserProfileResponse``)."""
    return ok(request, dict(USER_PROFILE))
