"""
``/v1/social/posts`` and ``/v1/social/validate/post``: publish, schedule, read, retry, delete, validate.

Also the posts part of the control API: ``GET /_emulator/posts`` (posts, credit charges, knobs)
and ``PATCH /_emulator/posts/settings`` (make a platform fail, slow publishing, set the credit
balance, switch the duplicate-content guard).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, StrictStr

from airflow_provider_smartlyq.emulator.envelope import ok, request_id_of, success_body
from airflow_provider_smartlyq.emulator.models import ApiError
from airflow_provider_smartlyq.emulator.posts_state import POST_PLATFORMS, validation_report
from airflow_provider_smartlyq.emulator.routes import get_state, profile_of, read_json
from airflow_provider_smartlyq.emulator.routes.control import _parse, require_control

router = APIRouter()


class RetryBody(BaseModel):
    """Body of ``POST /v1/social/posts/{id}/retry``: which failed platforms (default: all)."""

    platforms: list[StrictStr] | None = None


class ValidatePostBody(BaseModel):
    """Body of ``POST /v1/social/validate/post``: the draft to dry-run."""

    platforms: list[StrictStr] = Field(min_length=1)
    content: StrictStr | None = None
    media_urls: list[StrictStr] | None = None


async def _create(request: Request, *, schedule: bool) -> JSONResponse:
    body = await read_json(request)
    created = get_state(request).create_post(body, profile_of(request), schedule=schedule)
    answer = success_body(created["post"], request_id_of(request.scope))
    answer["usage"] = created["usage"]
    return JSONResponse(answer, status_code=201)


@router.post("/v1/social/posts")
async def create_post(request: Request) -> JSONResponse:
    """Publish now: answer the post (``201``); publishing then runs asynchronously."""
    return await _create(request, schedule=False)


@router.post("/v1/social/posts/schedule")
async def schedule_post(request: Request) -> JSONResponse:
    """Schedule at ``scheduled_time`` (+ ``timezone``) or in the next slot of ``queue_id``."""
    return await _create(request, schedule=True)


@router.get("/v1/social/posts")
async def list_posts(
    request: Request,
    page: int = 1,
    per_page: int = 20,
    status: str | None = None,
    platform: str | None = None,
) -> JSONResponse:
    """List posts, newest first, paginated."""
    if page < 1 or not 1 <= per_page <= 100:
        raise ApiError(422, "VALIDATION_ERROR", "page >= 1 and 1 <= per_page <= 100.", {})
    posts = get_state(request).list_posts(profile_of(request), status, platform)
    chunk = posts[(page - 1) * per_page : page * per_page]
    pagination = {
        "page": page,
        "per_page": per_page,
        "total": len(posts),
        "pages": max(1, -(-len(posts) // per_page)),
    }
    body = success_body([p.to_api() for p in chunk], request_id_of(request.scope), pagination)
    return JSONResponse(body)


@router.get("/v1/social/posts/{post_id}")
async def get_post(request: Request, post_id: int) -> JSONResponse:
    """Answer one post with its live ``status``, ``publish_stage`` and ``post_urls``."""
    return ok(request, get_state(request).get_post(post_id, profile_of(request)).to_api())


@router.post("/v1/social/posts/{post_id}/retry")
async def retry_post(request: Request, post_id: int) -> JSONResponse:
    """Publish the failed platforms (all, or those in ``platforms``) of a finished post again."""
    platforms = _parse(RetryBody, await read_json(request)).get("platforms")
    return ok(request, get_state(request).retry_post(post_id, profile_of(request), platforms))


@router.delete("/v1/social/posts/{post_id}")
async def delete_post(request: Request, post_id: int) -> Response:
    """Delete (or cancel, when scheduled) a post: ``204`` without a body, as the spec says."""
    get_state(request).delete_post(post_id, profile_of(request))
    return Response(status_code=204)


@router.post("/v1/social/validate/post")
async def validate_post(request: Request) -> JSONResponse:
    """Dry-run the create path's content checks; free, creates nothing."""
    body = _parse(ValidatePostBody, await read_json(request))
    platforms = body["platforms"]
    unknown = [p for p in platforms if p not in POST_PLATFORMS]
    if unknown:
        raise ApiError(
            422,
            "UNSUPPORTED_PLATFORM",
            f"Unsupported platforms: {', '.join(unknown)}.",
            {"supported_platforms": list(POST_PLATFORMS)},
        )
    return ok(request, validation_report(body.get("content") or "", platforms, body.get("media_urls") or []))


@router.get("/_emulator/posts", include_in_schema=False, dependencies=[Depends(require_control)])
async def posts_state(request: Request) -> JSONResponse:
    """Answer every post (with its idempotency key), the credit charges and the knobs."""
    return ok(request, get_state(request).posts_snapshot())


@router.patch("/_emulator/posts/settings", include_in_schema=False, dependencies=[Depends(require_control)])
async def posts_settings(request: Request) -> JSONResponse:
    """Change the knobs: ``stage_seconds``, ``fail_platforms``, ``balance``, ``duplicate_check``."""
    settings = get_state(request).update_posts_settings(await read_json(request))
    return ok(request, settings.to_dict())
