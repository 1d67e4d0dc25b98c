"""
Headless connect: ``/v1/social/connect/...`` plus the emulated consent page.

The consent page (``/_emulator/oauth/authorize``) stands in for the platform's OAuth dialog:
a GET shows an Approve button, a POST to the same URL is the user clicking it.
"""

from __future__ import annotations

import html
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from airflow_provider_smartlyq.emulator.config import (
    CREDENTIAL_FIELDS,
    CREDENTIAL_ONLY_PLATFORMS,
    PLATFORMS,
    is_loopback,
)
from airflow_provider_smartlyq.emulator.envelope import ok
from airflow_provider_smartlyq.emulator.models import (
    WRITE_CONTEXT,
    ApiError,
    ConnectSession,
    iso,
    platform_label,
)
from airflow_provider_smartlyq.emulator.routes import get_state, optional_str, profile_of, read_json

router = APIRouter(prefix="/v1/social/connect")
browser_router = APIRouter(prefix="/_emulator/oauth", include_in_schema=False)

AUTHORIZE_PATH = "/_emulator/oauth/authorize"


def public_base(request: Request) -> str:
    """
    Return the root URL to put into links: ``public_url``, else where this request arrived.

    The ``Host`` header is used only when it names a loopback host: any client can send any
    ``Host``, and a foreign one must not end up in a connect link (or an XCom, or a browser).
    Otherwise the address of the socket the request arrived on is used.
    """
    configured = get_state(request).config.public_url
    if configured:
        return configured
    host_header = request.headers.get("host", "")
    if is_loopback(urlsplit(f"//{host_header}").hostname):
        return str(request.base_url)
    server = request.scope.get("server") or ("127.0.0.1", 80)
    address, port = str(server[0]), server[1]
    shown = f"[{address}]" if ":" in address else address
    return f"{request.url.scheme}://{shown}" + (f":{port}" if port else "")


def authorize_url(request: Request, session: ConnectSession) -> str:
    """Return the emulator's consent-page URL carrying the session's state token."""
    base = public_base(request)
    query = urlencode(
        {
            "platform": session.platform,
            "state": session.state_token,
            "client_id": f"smartlyq-emulator-{session.platform}",
        }
    )
    return f"{base.rstrip('/')}{AUTHORIZE_PATH}?{query}"


def _credentials(platform: str, body: dict[str, object]) -> dict[str, str] | None:
    """Return the credential fields of ``body`` for ``platform``, ``None`` when none were sent."""
    groups = CREDENTIAL_FIELDS.get(platform)
    if groups is None:
        return None
    found = {name: body[name] for group in groups for name in group if isinstance(body.get(name), str)}
    if not found and platform not in CREDENTIAL_ONLY_PLATFORMS:
        return None
    missing = [group[0] for group in groups if not any(found.get(name) for name in group)]
    if missing:
        message = f"{platform_label(platform)} connects with credentials; missing: {', '.join(missing)}."
        raise ApiError(422, "VALIDATION_ERROR", message, {"fields": missing})
    return {k: str(v) for k, v in found.items()}


@router.post("/{platform}", status_code=201)
async def start_connect(request: Request, platform: str) -> JSONResponse:
    """Create a connect link, or connect a credential platform at once."""
    state = get_state(request)
    if not state.config.headless_connect_enabled:
        raise ApiError(404, "NOT_ENABLED", "Headless connect is not enabled for this workspace.", {})
    if platform not in PLATFORMS:
        message = f"Platform '{platform}' is not supported."
        raise ApiError(422, "UNSUPPORTED_PLATFORM", message, {"supported_platforms": list(PLATFORMS)})
    if platform in state.config.unconfigured_platforms:
        message = f"No OAuth app is configured for {platform_label(platform)} on this instance."
        raise ApiError(422, "PROVIDER_NOT_CONFIGURED", message, {"platform": platform})
    body = await read_json(request)
    return_url = optional_str(body, "return_url")
    credentials = _credentials(platform, body)
    if credentials is not None:
        handle = credentials.get("identifier") or credentials.get("chat") or credentials.get("chat_id")
        name = handle or f"WhatsApp {credentials.get('phone_number_id')}"
        account = state.add_account(
            action="account_connected",
            platform=platform,
            name=name,
            username=handle,
            profile_id=profile_of(request),
        )
        # ``id`` next to the documented ``account_id`` spares clients a guess at the key name.
        return ok(
            request, {"platform": platform, "account": {**account.to_connected(), "id": account.id}}, 201
        )
    session = state.create_session(platform, profile_of(request), return_url)
    data = {
        "platform": platform,
        "connect_url": authorize_url(request, session),
        "expires_at": iso(session.expires_at),
    }
    return ok(request, data, 201)


@router.get("/{state_token}")
async def poll_connect(request: Request, state_token: str) -> JSONResponse:
    """Answer a connect session's status (``pending``, ``connected`` or ``expired``)."""
    state = get_state(request)
    return ok(request, state.session_answer(state.get_session(state_token)))


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    text = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(text, status_code=status)


def _pending_session(request: Request) -> ConnectSession | HTMLResponse:
    token = request.query_params.get("state", "")
    try:
        session = get_state(request).get_session(token)
    except ApiError:
        return _page("Unknown connect link", "<p>This link is not valid.</p>", 404)
    if session.status != "pending":
        reason = "has expired" if session.status == "expired" else "was already used"
        return _page("Link no longer valid", f"<p>This connect link {reason}.</p>", 410)
    return session


@browser_router.get("/authorize")
async def consent_page(request: Request) -> Response:
    """Show the consent page with an Approve button."""
    session = _pending_session(request)
    if isinstance(session, HTMLResponse):
        return session
    label = html.escape(platform_label(session.platform))
    action = html.escape(AUTHORIZE_PATH + "?" + request.url.query)
    form = (
        f"<p>SmartlyQ (emulated) wants to connect your {label} account.</p>"
        f"<form method='post' action='{action}'><button type='submit'>Approve</button></form>"
    )
    return _page(f"Connect {platform_label(session.platform)}", form)


@browser_router.post("/authorize")
async def consent_approve(request: Request) -> Response:
    """Approve the consent page: connect the account(s) and follow ``return_url`` if any."""
    session = _pending_session(request)
    if isinstance(session, HTMLResponse):
        return session
    token = WRITE_CONTEXT.set({"source": "browser"})
    try:
        accounts = get_state(request).approve_session(session.state_token)
    finally:
        WRITE_CONTEXT.reset(token)
    if session.return_url:
        separator = "&" if "?" in session.return_url else "?"
        query = urlencode({"connected": len(accounts), "platform": session.platform})
        return RedirectResponse(session.return_url + separator + query, status_code=303)
    names = "".join(f"<li>{html.escape(a.name)} (id {a.id})</li>" for a in accounts)
    return _page("Connected", f"<p>Connected {len(accounts)} account(s):</p><ul>{names}</ul>")
