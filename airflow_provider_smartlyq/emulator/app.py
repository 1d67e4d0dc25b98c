"""Assemble the emulator's FastAPI application."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from airflow_provider_smartlyq.emulator.config import EmulatorConfig
from airflow_provider_smartlyq.emulator.envelope import api_error_response, error_response
from airflow_provider_smartlyq.emulator.faults import FaultMiddleware
from airflow_provider_smartlyq.emulator.gateway import AuthMiddleware, GatewayMiddleware
from airflow_provider_smartlyq.emulator.idempotency import IdempotencyMiddleware
from airflow_provider_smartlyq.emulator.limits import BodyLimitMiddleware
from airflow_provider_smartlyq.emulator.models import ApiError
from airflow_provider_smartlyq.emulator.routes import AREAS
from airflow_provider_smartlyq.emulator.state import EmulatorState

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi.responses import JSONResponse

log = logging.getLogger(__name__)


def create_app(config: EmulatorConfig | None = None, state: EmulatorState | None = None) -> FastAPI:
    """
    Build the emulator app.

    :param config: Emulator knobs; defaults to :meth:`EmulatorConfig.from_env`.
    :param state: Pre-built state (shared with an in-process test); built from ``config`` if unset.
    """
    config = config or (state.config if state else EmulatorConfig.from_env())
    state = state or EmulatorState(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = (
            asyncio.create_task(_auto_approve_loop(state)) if config.auto_approve_after is not None else None
        )
        posts_task = asyncio.create_task(_posts_loop(state))
        try:
            yield
        finally:
            for running in (task, posts_task):
                if running is not None:
                    running.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await running

    app = FastAPI(
        title="SmartlyQ emulator", version="1.0.0", lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.emulator = state
    for area in AREAS:
        module = importlib.import_module(f"airflow_provider_smartlyq.emulator.routes.{area}")
        app.include_router(module.router)
        if hasattr(module, "browser_router"):
            app.include_router(module.browser_router)
    # add_middleware wraps: the last one added runs first.
    app.add_middleware(IdempotencyMiddleware, state=state)
    app.add_middleware(AuthMiddleware, state=state)
    app.add_middleware(FaultMiddleware, state=state)
    app.add_middleware(BodyLimitMiddleware)  # inside the gateway: a 413 is logged like any answer
    app.add_middleware(GatewayMiddleware, state=state)
    _install_error_handlers(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return api_error_response(request.scope, exc)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()
        ]
        fields = [e["loc"][-1] for e in errors if e["loc"]]
        message = "Invalid request: " + "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)
        return error_response(
            request.scope, 422, "VALIDATION_ERROR", message, {"fields": fields, "errors": errors}
        )

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        message = "Route not found." if exc.status_code == 404 else str(exc.detail)
        return error_response(request.scope, exc.status_code, None, message, {}, exc.headers)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)


async def _auto_approve_loop(state: EmulatorState) -> None:
    # Lazy evaluation on read covers the API; this loop makes approvals land in the state and
    # write log even when nobody polls.
    delay = state.config.auto_approve_after or 0.0
    interval = min(0.25, max(0.02, delay / 4))
    while True:
        await asyncio.sleep(interval)
        try:
            state.tick()
        except Exception:  # keep the loop alive; a bad tick must not stop later approvals
            log.exception("auto-approve tick failed")


async def _posts_loop(state: EmulatorState) -> None:
    # Posts advance lazily when read; this loop makes their outcome (write log, webhook events)
    # land on time even when nobody polls.
    while True:
        await asyncio.sleep(min(0.1, max(0.02, state.posts_settings.stage_seconds / 3)))
        try:
            state.tick_posts()
        except Exception:  # keep the loop alive; one bad post must not stop the others
            log.exception("posts tick failed")


def app_factory() -> Any:
    """Return an app configured from the environment (for ``uvicorn --factory``)."""
    return create_app()
