"""
SmartlyQ API calls as data: what to send and how to shape the answer.

Each function validates its arguments (raising before anything is sent) and returns an
:class:`Operation`. The hook runs an operation on the sync or the async transport, so every
call is defined once however it is awaited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

from airflow_provider_smartlyq.core.account_state import is_paused
from airflow_provider_smartlyq.core.validation import (
    CREDENTIAL_PLATFORMS,
    normalize_platform,
    server_url,
    short_token,
    validate_account_id,
    validate_return_url,
    validate_state_token,
)
from airflow_provider_smartlyq.exceptions import SmartlyQServerError, SmartlyQValidationError
from airflow_provider_smartlyq.hooks._protocol import ApiRequest, ApiResult

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


def _data(result: ApiResult) -> Any:
    return result.data


@dataclass(frozen=True)
class Operation:
    """A request and the function that turns its result into what the caller gets."""

    request: ApiRequest
    shape: Callable[[ApiResult], Any] = _data


def _invalid_response(result: ApiResult, request: ApiRequest, message: str) -> SmartlyQServerError:
    """Return the error for a 2xx whose ``data`` is not what the operation documents."""
    return SmartlyQServerError(
        200,
        "INVALID_RESPONSE",
        message,
        request_id=result.request_id,
        method=request.method,
        path=request.log_path,
    )


def _expect_dict(result: ApiResult, request: ApiRequest) -> dict[str, Any]:
    if not isinstance(result.data, dict):
        raise _invalid_response(
            result, request, f"expected an object in 'data', got {type(result.data).__name__}"
        )
    return result.data


def get_me() -> Operation:
    return Operation(ApiRequest.build("GET", "/me"))


def create_connect_link(
    platform: str,
    return_url: str | None = None,
    *,
    credentials: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> Operation:
    name = normalize_platform(platform)
    body: dict[str, Any] = {}
    if credentials:
        if name not in CREDENTIAL_PLATFORMS:
            raise SmartlyQValidationError.local(
                f"credentials are only for {', '.join(sorted(CREDENTIAL_PLATFORMS))}; "
                f"{name} connects through the OAuth link"
            )
        body.update(credentials)
    if (url := validate_return_url(return_url)) is not None:
        body["return_url"] = url
    request = ApiRequest.build("POST", f"/social/connect/{name}", json=body, idempotency_key=idempotency_key)

    def shape(result: ApiResult) -> dict[str, Any]:
        data = dict(_expect_dict(result, request))
        if "connect_url" in data:
            data["connect_url"] = _link(result, request, data["connect_url"], "connect_url")
            data["state_token"] = state_token_from_url(data["connect_url"])
        return data  # credential platforms answer {platform, account}: returned as they come

    return Operation(request, shape)


def state_token_from_url(connect_url: object) -> str | None:
    """Return the OAuth ``state`` query parameter of a connect URL, ``None`` when absent."""
    if not isinstance(connect_url, str):
        return None
    values = parse_qs(urlsplit(connect_url).query).get("state")
    return values[0] if values else None


def get_connect_status(state_token: str) -> Operation:
    token = validate_state_token(state_token)
    request = ApiRequest.build(
        "GET",
        f"/social/connect/{quote(token, safe='')}",
        # Whoever holds the state token can follow the connect: logs show a prefix only.
        redacted_path=f"/social/connect/{short_token(token)}",
    )

    def shape(result: ApiResult) -> dict[str, Any]:
        data = _expect_dict(result, request)
        return {
            "platform": data.get("platform"),
            "status": data.get("status"),
            "expires_at": data.get("expires_at"),
            "account": data.get("account"),
        }

    return Operation(request, shape)


def list_accounts(page: int | None = None, per_page: int | None = None) -> Operation:
    # Later pages must use the page size of the first answer, or items fall between pages.
    params = {"page": page, "per_page": per_page or 100} if page else None
    return Operation(ApiRequest.build("GET", "/social/accounts", params=params))


def _with_paused_flag(account: dict[str, Any]) -> dict[str, Any]:
    # SmartlyQ tallies paused accounts but documents only `is_active` per account: derive one
    # flag, by the same rule the health gate applies (a null `is_active` is not "paused").
    if "paused" not in account and "is_active" in account:
        return {**account, "paused": is_paused(account)}
    return account


def get_accounts_health() -> Operation:
    request = ApiRequest.build("GET", "/social/accounts/health")

    def shape(result: ApiResult) -> dict[str, Any]:
        data = dict(_expect_dict(result, request))
        data["accounts"] = [_with_paused_flag(item) for item in data.get("accounts") or []]
        return data

    return Operation(request, shape)


def get_account_health(account_id: int) -> Operation:
    account = validate_account_id(account_id)
    return Operation(ApiRequest.build("GET", f"/social/accounts/{account}/health"))


def get_reconnect_url(account_id: int) -> Operation:
    account = validate_account_id(account_id)
    request = ApiRequest.build("GET", f"/social/accounts/{account}/reconnect-url")

    def shape(result: ApiResult) -> str:
        return _link(result, request, _expect_dict(result, request).get("reconnect_url"), "reconnect_url")

    return Operation(request, shape)


def _link(result: ApiResult, request: ApiRequest, value: object, name: str) -> str:
    """Return a link SmartlyQ answered when it is an http(s) URL; it goes to XCom and an href."""
    url = server_url(value)
    if url is None:
        # The value is not quoted: it is a secret-bearing link, or whatever a broken or hostile
        # server sent in its place (javascript:, data:, line breaks).
        raise _invalid_response(
            result, request, f"the answer has no {name} (or none that is an absolute http(s) URL)"
        )
    return url


def set_paused(account_id: int, paused: bool, *, idempotency_key: str | None = None) -> Operation:
    account = validate_account_id(account_id)
    action = "pause" if paused else "resume"
    request = ApiRequest.build(
        "POST", f"/social/accounts/{account}/{action}", idempotency_key=idempotency_key
    )

    def shape(result: ApiResult) -> dict[str, Any]:
        data = _expect_dict(result, request)
        return {"id": data.get("id", account), "paused": bool(data.get("paused", paused))}

    return Operation(request, shape)


def disconnect_account(account_id: int, *, idempotency_key: str | None = None) -> Operation:
    account = validate_account_id(account_id)
    request = ApiRequest.build("DELETE", f"/social/accounts/{account}", idempotency_key=idempotency_key)
    return Operation(request, lambda result: None)
