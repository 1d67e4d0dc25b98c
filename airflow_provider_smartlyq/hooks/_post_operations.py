"""
SmartlyQ post calls as data (see :mod:`~airflow_provider_smartlyq.hooks._operations`).

Every argument is checked here, before anything is sent: an empty text, no account, a naive
``scheduled_time`` without ``timezone`` or a time together with a queue fail as
:class:`~airflow_provider_smartlyq.exceptions.SmartlyQValidationError` with status 0.
Bodies are built deterministically (account ids sorted, platforms in a stable order), so that
the same arguments always give the same bytes: an idempotent replay needs the same body.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_smartlyq.core.validation import (
    normalize_platforms,
    validate_account_id,
    validate_account_ids,
    validate_idempotency_key,
)
from airflow_provider_smartlyq.exceptions import SmartlyQValidationError
from airflow_provider_smartlyq.hooks._operations import Operation, _expect_dict
from airflow_provider_smartlyq.hooks._protocol import ApiRequest, ApiResult

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


@dataclass(frozen=True)
class PostDraft:
    """A checked create request; ``platforms`` is ``None`` until derived from the accounts."""

    path: str
    body: dict[str, Any]
    idempotency_key: str | None = None

    @property
    def account_ids(self) -> list[int]:
        return list(self.body["account_ids"])

    def with_platforms(self, platforms: list[str]) -> PostDraft:
        """Return the draft with ``platforms`` set."""
        return PostDraft(self.path, {**self.body, "platforms": platforms}, self.idempotency_key)


def post_draft(
    content: object,
    account_ids: object,
    *,
    platforms: str | Iterable[str] | None,
    media_urls: str | Iterable[str] | None,
    link: str | None,
    platform_options: Mapping[str, Any] | None,
    allow_duplicates: bool,
    scheduled_time: dt.datetime | str | None,
    timezone: str | None,
    queue_id: int | str | None,
    idempotency_key: str | None,
) -> PostDraft:
    """
    Check the arguments of :meth:`SmartlyQHook.create_post`; return where to send it and its body.

    The hook's signature is the public one (types, defaults, documentation); it passes each
    argument here by name, so that the two lists cannot be paired up wrongly. ``platforms`` may
    be unset in the draft: the hook then derives them from the accounts.
    """
    key = validate_idempotency_key(idempotency_key) if idempotency_key is not None else None
    body: dict[str, Any] = {"content": validate_content(content)}
    ids = validate_account_ids(account_ids) if account_ids is not None else []
    if not ids:
        raise SmartlyQValidationError.local("a post needs at least one account id (account_ids)")
    body["account_ids"] = sorted(ids)
    if platforms is not None:
        body["platforms"] = platform_names(
            platforms, "platforms must name at least one platform, or be omitted"
        )
    if media := validate_media_urls(media_urls):
        body["media_urls"] = media
    if link is not None:
        if not isinstance(link, str) or not link.strip():
            raise SmartlyQValidationError.local(f"link must be a non-empty URL string, got {link!r}")
        body["link"] = link.strip()
    if platform_options:
        body["platform_options"] = validate_platform_options(platform_options)
    if allow_duplicates:
        body["allow_duplicates"] = True
    if scheduled_time is not None and queue_id is not None:
        raise SmartlyQValidationError.local("pass scheduled_time or queue_id, not both")
    if queue_id is not None:
        body["queue_id"] = validate_account_id(queue_id, name="queue_id")
        return PostDraft("/social/posts/schedule", body, key)
    if scheduled_time is not None:
        body.update(schedule_fields(scheduled_time, timezone))
        return PostDraft("/social/posts/schedule", body, key)
    if timezone is not None:
        raise SmartlyQValidationError.local("timezone applies to scheduled_time; pass scheduled_time too")
    return PostDraft("/social/posts", body, key)


def validate_content(content: object) -> str:
    """Return the post text, refusing non-strings and blank text."""
    if not isinstance(content, str) or not content.strip():
        raise SmartlyQValidationError.local("content must be non-empty text")
    return content


def platform_names(platforms: str | Iterable[str] | None, when_none: str) -> list[str]:
    """
    Return the platforms named, normalised (a post and its dry run check them alike).

    :param when_none: The message of the error raised when no platform is named.
    """
    names = normalize_platforms(platforms) or []
    if not names:
        raise SmartlyQValidationError.local(when_none)
    return names


def validate_media_urls(media_urls: str | Iterable[str] | None) -> list[str]:
    """Return the media URLs as a list (one URL may be given as a string)."""
    if media_urls is None:
        return []
    items = [media_urls] if isinstance(media_urls, str) else list(media_urls)
    for url in items:
        if not isinstance(url, str) or not url.strip().lower().startswith(("http://", "https://")):
            raise SmartlyQValidationError.local(f"media_urls must be http(s) URLs, got {url!r}")
    return [url.strip() for url in items]


def validate_platform_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``platform_options`` as a JSON-plain dict keyed by platform."""
    if not isinstance(options, dict):
        raise SmartlyQValidationError.local("platform_options must be a dict keyed by platform")
    try:
        json.dumps(options)
    except (TypeError, ValueError) as exc:
        raise SmartlyQValidationError.local(f"platform_options must be JSON-serializable: {exc}") from None
    return dict(options)


def schedule_fields(scheduled_time: dt.datetime | str, timezone: str | None) -> dict[str, str]:
    """
    Return ``{scheduled_time[, timezone]}`` for the schedule request.

    An aware time is sent in UTC (``Z``), or as wall time in ``timezone`` when one is given; a
    naive time needs ``timezone`` (SmartlyQ would read it as UTC, which is rarely what was meant).
    """
    when = scheduled_time
    if isinstance(when, str):
        try:
            when = dt.datetime.fromisoformat(when.strip().replace("Z", "+00:00"))
        except ValueError:
            raise SmartlyQValidationError.local(
                f"scheduled_time must be an ISO 8601 date-time, got {scheduled_time!r}"
            ) from None
    if not isinstance(when, dt.datetime):
        raise SmartlyQValidationError.local(
            f"scheduled_time must be a datetime or an ISO 8601 string, got {scheduled_time!r}"
        )
    zone = _zone(timezone) if timezone is not None else None
    if when.tzinfo is None or when.utcoffset() is None:
        if zone is None:
            raise SmartlyQValidationError.local(
                f"scheduled_time {when.isoformat()} has no timezone: pass an aware datetime "
                "(e.g. pendulum.datetime(..., tz='Europe/Paris')) or timezone='Europe/Paris'"
            )
        return {"scheduled_time": when.replace(microsecond=0).isoformat(), "timezone": str(timezone)}
    if zone is not None:
        local = when.astimezone(zone).replace(tzinfo=None, microsecond=0)
        return {"scheduled_time": local.isoformat(), "timezone": str(timezone)}
    utc = when.astimezone(dt.timezone.utc).replace(microsecond=0)
    return {"scheduled_time": utc.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _zone(timezone: object) -> ZoneInfo:
    if not isinstance(timezone, str) or not timezone.strip():
        raise SmartlyQValidationError.local(
            f"timezone must be an IANA name such as 'Europe/Paris', got {timezone!r}"
        )
    try:
        return ZoneInfo(timezone.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise SmartlyQValidationError.local(
            f"unknown timezone {timezone!r}; use an IANA name such as 'Europe/Paris'"
        ) from None


def platforms_of(account_ids: Iterable[int], accounts: Iterable[Mapping[str, Any]]) -> list[str]:
    """
    Return the platforms of ``account_ids`` (in account-id order, de-duplicated).

    :raises SmartlyQValidationError: an id that is not among ``accounts``.
    """
    by_id = {}
    for account in accounts:
        try:
            by_id[int(account["id"])] = account
        except (KeyError, TypeError, ValueError):
            continue
    wanted = sorted(account_ids)
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise SmartlyQValidationError.local(
            f"account ids {', '.join(map(str, missing))} are not connected to this workspace (or profile)"
        )
    return normalize_platforms([str(by_id[i].get("platform")) for i in wanted]) or []


def create_post(draft: PostDraft) -> Operation:
    """Send a checked draft (its platforms set) with its idempotency key (generated when unset)."""
    if not draft.body.get("platforms"):
        raise SmartlyQValidationError.local("a post needs at least one platform")
    request = ApiRequest.build("POST", draft.path, json=draft.body, idempotency_key=draft.idempotency_key)

    def shape(result: ApiResult) -> dict[str, Any]:
        post = dict(_expect_dict(result, request))
        post.setdefault("idempotent_replay", False)
        if result.meta.get("request_id"):
            post.setdefault("request_id", result.meta["request_id"])
        return post

    return Operation(request, shape)


def get_post(post_id: object) -> Operation:
    post = validate_account_id(post_id, name="post_id")
    request = ApiRequest.build("GET", f"/social/posts/{post}")
    return Operation(request, lambda result: dict(_expect_dict(result, request)))


#: Largest page the posts list serves (``per_page`` maximum).
MAX_PER_PAGE = 100


def list_posts(
    page: object = 1, per_page: object = MAX_PER_PAGE, status: str | None = None, platform: str | None = None
) -> Operation:
    """One page of ``GET /social/posts`` (newest first), shaped ``{"posts": [...], "pagination": {...}}``."""
    for name, value, ceiling in (("page", page, None), ("per_page", per_page, MAX_PER_PAGE)):
        too_big = ceiling is not None and isinstance(value, int) and value > ceiling
        if isinstance(value, bool) or not isinstance(value, int) or value < 1 or too_big:
            limit = f" and <= {ceiling}" if ceiling else ""
            raise SmartlyQValidationError.local(f"{name} must be an integer >= 1{limit}, got {value!r}")
    params: dict[str, Any] = {"page": page, "per_page": per_page}
    if status:
        params["status"] = str(status)
    if platform:
        params["platform"] = str(platform)
    request = ApiRequest.build("GET", "/social/posts", params=params)

    def shape(result: ApiResult) -> dict[str, Any]:
        posts = result.data if isinstance(result.data, list) else []
        return {
            "posts": [dict(post) for post in posts if isinstance(post, dict)],
            "pagination": dict(result.pagination or {}),
        }

    return Operation(request, shape)


def validate_post(
    content: object, platforms: str | Iterable[str], media_urls: str | Iterable[str] | None = None
) -> Operation:
    body: dict[str, Any] = {
        "content": validate_content(content),
        "platforms": platform_names(platforms, "validate_post needs at least one platform"),
    }
    if media := validate_media_urls(media_urls):
        body["media_urls"] = media
    # A dry run changes nothing; the hook still sends a key, as it does on every POST.
    request = ApiRequest.build("POST", "/social/validate/post", json=body)
    return Operation(request, lambda result: dict(_expect_dict(result, request)))


def retry_post(
    post_id: object, platforms: str | Iterable[str] | None = None, *, idempotency_key: str | None = None
) -> Operation:
    post = validate_account_id(post_id, name="post_id")
    names = normalize_platforms(platforms)
    body = {"platforms": names} if names else {}
    request = ApiRequest.build(
        "POST", f"/social/posts/{post}/retry", json=body, idempotency_key=idempotency_key
    )
    return Operation(request, lambda result: dict(_expect_dict(result, request)))


def delete_post(post_id: object, *, idempotency_key: str | None = None) -> Operation:
    post = validate_account_id(post_id, name="post_id")
    request = ApiRequest.build("DELETE", f"/social/posts/{post}", idempotency_key=idempotency_key)
    return Operation(request, lambda result: None)
