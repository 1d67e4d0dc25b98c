"""``/v1/social/accounts``: list, health, reconnect links, pause/resume, rename, disconnect."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse  # noqa: TC002 -- FastAPI evaluates route annotations at runtime
from pydantic import BaseModel, Field, StrictStr, field_validator

from airflow_provider_smartlyq.emulator.envelope import ok
from airflow_provider_smartlyq.emulator.routes import get_state, profile_of, read_json
from airflow_provider_smartlyq.emulator.routes.connect import authorize_url
from airflow_provider_smartlyq.emulator.routes.control import _parse

router = APIRouter(prefix="/v1/social/accounts")


class RenameBody(BaseModel):
    """Body of ``PATCH /v1/social/accounts/{id}`` (the spec: ``{account_name}``, at most 255 characters)."""

    account_name: StrictStr = Field(min_length=1, max_length=255)

    @field_validator("account_name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


@router.get("")
async def list_accounts(request: Request) -> JSONResponse:
    """List the accounts of the requested profile (the spec documents no pagination here)."""
    state = get_state(request)
    now = state.clock()
    return ok(request, [a.to_api(now) for a in state.visible_accounts(profile_of(request))])


@router.get("/health")
async def bulk_health(request: Request) -> JSONResponse:
    """Answer tallies and per-account health of the requested profile."""
    return ok(request, get_state(request).health_summary(profile_of(request)))


@router.get("/{account_id}/health")
async def account_health(request: Request, account_id: int) -> JSONResponse:
    """Answer one account's token health."""
    state = get_state(request)
    return ok(request, state.get_account(account_id, profile_of(request)).to_health(state.clock()))


@router.get("/{account_id}/reconnect-url")
async def reconnect_url(request: Request, account_id: int) -> JSONResponse:
    """Answer a re-authorisation link; approving it refreshes this same account."""
    session = get_state(request).reconnect_session(account_id, profile_of(request))
    return ok(request, {"reconnect_url": authorize_url(request, session)})


@router.post("/{account_id}/pause")
async def pause_account(request: Request, account_id: int) -> JSONResponse:
    """Pause publishing to an account (idempotent: pausing twice changes nothing)."""
    account = get_state(request).set_paused(account_id, profile_of(request), True)
    return ok(request, {"id": account.id, "paused": account.paused})


@router.post("/{account_id}/resume")
async def resume_account(request: Request, account_id: int) -> JSONResponse:
    """Resume publishing to an account."""
    account = get_state(request).set_paused(account_id, profile_of(request), False)
    return ok(request, {"id": account.id, "paused": account.paused})


@router.patch("/{account_id}")
async def rename_account(request: Request, account_id: int) -> JSONResponse:
    """Rename an account (spec: ``{account_name}``, at most 255 characters)."""
    name = _parse(RenameBody, await read_json(request))["account_name"]
    account = get_state(request).rename_account(account_id, profile_of(request), name)
    return ok(request, {"id": account.id, "platform": account.platform, "account_name": account.name})


@router.delete("/{account_id}")
async def disconnect_account(request: Request, account_id: int) -> JSONResponse:
    """Disconnect an account for good."""
    get_state(request).delete_account(account_id, profile_of(request))
    return ok(request, None)
