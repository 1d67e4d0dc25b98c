"""
Posts: the publishing section of :class:`~.state.EmulatorState` (a mixin).

A post goes through SmartlyQ's asynchronous lifecycle, driven by the clock: ``publish_stage``
``validating`` → ``processing_media`` → ``publishing`` → ``None``, each stage lasting
:attr:`PostsSettings.stage_seconds`; then ``status`` becomes ``published``,
``partially_published`` or ``failed`` with ``post_urls`` (per-platform permalinks, and
``_errors`` per failed platform). Scheduled posts wait in ``scheduled`` until their time.

Knobs (control API ``/_emulator/posts/settings``): a platform that fails with a reason, the
stage duration (slow publishing), the credit balance (``402 INSUFFICIENT_BALANCE`` once spent)
and the 24-hour duplicate-content guard (``409 DUPLICATE_CONTENT`` unless ``allow_duplicates``).
Every effective creation logs one ``post_created`` write carrying its charge; idempotent
replays are answered by the idempotency layer before any of this runs, so they log nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_smartlyq.emulator.models import UTC, ApiError, iso

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from airflow_provider_smartlyq.emulator.models import Account

FIRST_POST_ID = 5001
#: Price of one post per target account (the spec's example charges 0.0150 for one platform).
UNIT_COST = Decimal("0.0150")
STAGES: tuple[str, ...] = ("validating", "processing_media", "publishing")
TERMINAL_STATUSES = frozenset({"published", "partially_published", "failed"})
DUPLICATE_WINDOW = dt.timedelta(hours=24)
#: Latest accepted scheduled_time (an emulator limit): far-future dates overflowed date arithmetic.
MAX_SCHEDULE_AHEAD = dt.timedelta(days=36525)  # a century
#: Bounds of the control knobs, so that later arithmetic on them cannot overflow.
MAX_STAGE_SECONDS = 86400.0
MAX_BALANCE = Decimal("1000000000")

#: Platforms a post may target (the create request's enum).
POST_PLATFORMS: tuple[str, ...] = (
    "facebook", "instagram", "twitter", "linkedin", "youtube", "tiktok", "gmb", "threads",
    "bluesky", "tumblr", "telegram", "discord", "pinterest", "reddit", "snapchat", "whatsapp",
)  # fmt: skip

#: Caption limits per platform (``None``: no documented ceiling).
CHARACTER_LIMITS: dict[str, int | None] = {
    "twitter": 280,
    "bluesky": 300,
    "threads": 500,
    "pinterest": 500,
    "gmb": 1500,
    "discord": 2000,
    "instagram": 2200,
    "tiktok": 2200,
    "linkedin": 3000,
    "telegram": 4096,
    "whatsapp": 4096,
    "youtube": 5000,
    "reddit": 40000,
    "facebook": 63206,
    "snapchat": None,
    "tumblr": None,
}
#: Platforms that publish nothing without media; the video-only ones need a video.
MEDIA_REQUIRED = frozenset({"instagram", "tiktok", "youtube", "pinterest", "snapchat"})
VIDEO_ONLY = frozenset({"tiktok", "youtube"})
IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "gif", "webp"})
VIDEO_EXTENSIONS = frozenset({"mp4", "mov", "webm"})

_PERMALINK_HOSTS = {"twitter": "x.com", "gmb": "business.google.com"}


@dataclasses.dataclass
class PostsSettings:
    """
    Knobs of the posts area (changed through the control API, restored by a reset).

    :param stage_seconds: Duration of each publish stage (three stages per post).
    :param fail_platforms: Platform -> reason; posts to these platforms fail there.
    :param balance: Credits left; a post costs :data:`UNIT_COST` per target account.
    :param duplicate_check: Reject content identical to a post of the last 24 hours.
    """

    stage_seconds: float = 0.3
    fail_platforms: dict[str, str] = dataclasses.field(default_factory=dict)
    balance: Decimal = Decimal("100.0000")
    duplicate_check: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Render the knobs for the control API."""
        return {
            "stage_seconds": self.stage_seconds,
            "fail_platforms": dict(self.fail_platforms),
            "balance": f"{self.balance:.4f}",
            "duplicate_check": self.duplicate_check,
        }


@dataclasses.dataclass
class Post:
    """One post and where it is in its lifecycle."""

    id: int
    content: str
    platforms: list[str]
    account_ids: list[int]
    profile_id: int | None
    created_at: dt.datetime
    start_at: dt.datetime  # when the publish run starts (creation, or the scheduled time)
    media_urls: list[str] = dataclasses.field(default_factory=list)
    link: str | None = None
    platform_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    scheduled: bool = False
    queue_id: int | None = None
    timezone: str | None = None
    status: str = "processing"
    publish_stage: str | None = "validating"
    published_at: dt.datetime | None = None
    post_urls: dict[str, Any] = dataclasses.field(default_factory=dict)
    post_ids: dict[str, Any] = dataclasses.field(default_factory=dict)
    cost: Decimal = Decimal(0)
    idempotency_key: str | None = None

    def to_api(self) -> dict[str, Any]:
        """
        Render the post as ``GET /social/posts/{id}`` answers it.

        ``published_at`` appears once a platform has published: the spec types it as a
        non-null date-time, so a post without a publication time leaves it out (not null).
        """
        answer: dict[str, Any] = {
            "id": self.id,
            "content": self.content,
            "platforms": list(self.platforms),
            "account_ids": list(self.account_ids),
            "status": self.status,
            "publish_stage": self.publish_stage,
            "scheduled_time": iso(self.start_at),
            "created_at": iso(self.created_at),
            "post_urls": _copy(self.post_urls),
            "post_ids": _copy(self.post_ids),
            "media_urls": list(self.media_urls),
            "link": self.link,
            "queue_id": self.queue_id,
        }
        if self.published_at is not None:
            answer["published_at"] = iso(self.published_at)
        return answer


def _copy(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, dict) else list(v) for k, v in mapping.items()}


def validation_report(content: str, platforms: list[str], media_urls: list[str]) -> dict[str, Any]:
    """Return ``{valid, errors, platforms}``: the dry run of ``POST /social/validate/post``."""
    errors: list[str] = []
    report: dict[str, Any] = {}
    extensions = [_extension(url) for url in media_urls]
    for url, ext in zip(media_urls, extensions, strict=True):
        if ext not in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS:
            errors.append(f"Media {url} has an unsupported file type (use jpg, png, gif, webp, mp4, mov).")
    has_video = any(ext in VIDEO_EXTENSIONS for ext in extensions)
    has_media = any(ext in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS for ext in extensions)
    for platform in platforms:
        limit = CHARACTER_LIMITS.get(platform)
        characters = len(content)
        within = limit is None or characters <= limit
        if not within:
            errors.append(f"{platform}: content is {characters} characters; the limit is {limit}.")
        requires_media = platform in MEDIA_REQUIRED
        media_ok = (has_video if platform in VIDEO_ONLY else has_media) or not requires_media
        if not media_ok:
            kind = "a video" if platform in VIDEO_ONLY else "an image or a video"
            errors.append(f"{platform}: a post needs {kind} (media_urls).")
        report[platform] = {
            "characters": characters,
            "limit": limit,
            "within_limit": within,
            "requires_media": requires_media,
            "media_ok": media_ok,
        }
    return {"valid": not errors, "errors": errors, "platforms": report}


def _extension(url: str) -> str:
    path = url.split("?", 1)[0].split("#", 1)[0]
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _invalid(message: str, fields: list[str], **details: Any) -> ApiError:
    return ApiError(422, "VALIDATION_ERROR", message, {"fields": fields, **details})


class PostsMixin:
    """Create, schedule, advance, retry and delete posts; validate content."""

    # Provided by EmulatorState.
    clock: Callable[[], dt.datetime]
    lock: threading.RLock
    accounts: dict[int, Account]

    if TYPE_CHECKING:

        def record_write(self, action: str, **fields: Any) -> dict[str, Any]: ...

    def init_posts(self) -> None:
        """Create the empty posts area (called once from ``EmulatorState.__init__``)."""
        self.posts: dict[int, Post] = {}
        self.posts_settings = PostsSettings()
        self.credit_charges: list[dict[str, Any]] = []
        self._next_post_id = FIRST_POST_ID

    def reset_posts(self) -> None:
        """Drop every post and charge, restore the default knobs."""
        with self.lock:
            self.posts.clear()
            self.credit_charges.clear()
            self.posts_settings = PostsSettings()
            self._next_post_id = FIRST_POST_ID

    # -- knobs ------------------------------------------------------------------------------

    def update_posts_settings(self, fields: dict[str, Any]) -> PostsSettings:
        """Apply control-API knobs: stage_seconds, fail_platforms, balance, duplicate_check."""
        unknown = sorted(set(fields) - {"stage_seconds", "fail_platforms", "balance", "duplicate_check"})
        if unknown:
            raise _invalid(f"Unknown fields: {', '.join(unknown)}", unknown)
        # Every value is checked before any is set: a refused request changes nothing.
        changes: dict[str, Any] = {}
        try:
            if "stage_seconds" in fields:
                seconds = float(fields["stage_seconds"])
                if not 0 <= seconds <= MAX_STAGE_SECONDS:  # also refuses nan and inf
                    raise ValueError(f"stage_seconds must be from 0 to {MAX_STAGE_SECONDS}")
                changes["stage_seconds"] = seconds
            if "fail_platforms" in fields:
                failing = fields["fail_platforms"] or {}
                if isinstance(failing, list):
                    failing = {p: f"{p} rejected the post (emulated failure)." for p in failing}
                if not isinstance(failing, dict):
                    raise ValueError("fail_platforms must be a list of platforms or an object")
                changes["fail_platforms"] = {str(k): str(v) for k, v in failing.items()}
            if "balance" in fields:
                if isinstance(fields["balance"], bool):
                    raise ValueError("balance must be a number")
                balance = Decimal(str(fields["balance"]))
                if not balance.is_finite() or abs(balance) > MAX_BALANCE:
                    raise ValueError(f"balance must be a finite number of at most {MAX_BALANCE}")
                changes["balance"] = balance.quantize(Decimal("0.0001"))
            if "duplicate_check" in fields:
                if not isinstance(fields["duplicate_check"], bool):
                    raise ValueError("duplicate_check must be true or false")
                changes["duplicate_check"] = fields["duplicate_check"]
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise _invalid(f"Invalid posts setting: {exc}", sorted(fields)) from None
        with self.lock:
            settings = self.posts_settings
            for key, value in changes.items():
                setattr(settings, key, value)
            return settings

    # -- create -----------------------------------------------------------------------------

    def create_post(self, body: dict[str, Any], profile_id: int | None, *, schedule: bool) -> dict[str, Any]:
        """
        Create (and charge) a post from a create or schedule request body.

        :return: ``{"post": <api dict>, "usage": {units, cost, balance_remaining}}``.
        :raises ApiError: 422 invalid body, 404 unknown account, 402 no credits, 409 duplicate.
        """
        content, platforms, account_ids = self._required_fields(body)
        media_urls = _string_list(body, "media_urls")
        link = body.get("link")
        if link is not None and not isinstance(link, str):
            raise _invalid("link must be a string.", ["link"])
        options = body.get("platform_options") or {}
        if not isinstance(options, dict):
            raise _invalid("platform_options must be an object keyed by platform.", ["platform_options"])
        allow_duplicates = body.get("allow_duplicates") is True
        with self.lock:
            now = self.clock()
            targets = self._targets(account_ids, platforms, profile_id)
            start_at, queue_id, timezone = self._schedule_of(body, now) if schedule else (now, None, None)
            report = validation_report(content, platforms, media_urls)
            if not report["valid"]:
                message = "The post does not pass validation: " + " ".join(report["errors"])
                raise ApiError(422, "VALIDATION_ERROR", message, {"errors": report["errors"]})
            settings = self.posts_settings
            cost = UNIT_COST * len(targets)
            if settings.balance < cost:
                details = {"required": f"{cost:.4f}", "balance": f"{settings.balance:.4f}"}
                message = "Wallet balance is insufficient for this request"
                raise ApiError(402, "INSUFFICIENT_BALANCE", message, details)
            if settings.duplicate_check and not allow_duplicates:
                existing = self._duplicate_of(content, profile_id, now)
                if existing is not None:
                    # SmartlyQ charges first and refunds the duplicate: the balance is unchanged.
                    message = "Identical content was posted within the last 24 hours."
                    raise ApiError(409, "DUPLICATE_CONTENT", message, {"existing_post_id": existing.id})
            settings.balance -= cost
            post = Post(
                id=self._next_post_id,
                content=content,
                platforms=platforms,
                account_ids=account_ids,
                profile_id=profile_id,
                created_at=now,
                start_at=start_at,
                media_urls=media_urls,
                link=link,
                platform_options=options,
                scheduled=schedule,
                queue_id=queue_id,
                timezone=timezone,
                cost=cost,
            )
            if schedule:
                post.status, post.publish_stage = "scheduled", None
            self._next_post_id += 1
            self.posts[post.id] = post
            entry = self.record_write(
                "post_created",
                post_id=post.id,
                platforms=list(platforms),
                account_ids=list(account_ids),
                units=len(targets),
                cost=f"{cost:.4f}",
                scheduled=schedule or None,
            )
            post.idempotency_key = entry.get("idempotency_key")
            self.credit_charges.append(
                {"post_id": post.id, "units": len(targets), "cost": f"{cost:.4f}", "seq": entry["seq"]}
            )
            if schedule:
                self.record_write("post_scheduled", post_id=post.id, scheduled_time=iso(start_at))
            usage = {
                "units": len(targets),
                "cost": f"{cost:.4f}",
                "balance_remaining": f"{settings.balance:.4f}",
            }
            return {"post": post.to_api(), "usage": usage}

    def _required_fields(self, body: dict[str, Any]) -> tuple[str, list[str], list[int]]:
        missing = [f for f in ("content", "platforms", "account_ids") if not body.get(f)]
        if missing:
            raise _invalid(f"Missing required fields: {', '.join(missing)}.", missing)
        content = body["content"]
        if not isinstance(content, str) or not content.strip():
            raise _invalid("content must be a non-empty string.", ["content"])
        platforms = _string_list(body, "platforms")
        unknown = [p for p in platforms if p not in POST_PLATFORMS]
        if unknown:
            message = f"Unsupported platforms: {', '.join(unknown)}."
            raise ApiError(
                422, "UNSUPPORTED_PLATFORM", message, {"supported_platforms": list(POST_PLATFORMS)}
            )
        raw_ids = body["account_ids"]
        if not isinstance(raw_ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in raw_ids
        ):
            raise _invalid("account_ids must be a list of integer account ids.", ["account_ids"])
        return content, platforms, list(raw_ids)

    def _targets(self, account_ids: list[int], platforms: list[str], profile_id: int | None) -> list[Account]:
        targets = []
        for account_id in account_ids:
            account = self.accounts.get(account_id)
            if account is None or account.profile_id != profile_id:
                raise ApiError(404, "RESOURCE_NOT_FOUND", "Social account not found.", {"id": account_id})
            targets.append(account)
        stray = sorted({a.platform for a in targets} - set(platforms))
        uncovered = sorted(set(platforms) - {a.platform for a in targets})
        if stray or uncovered:
            parts = []
            if stray:
                parts.append(f"accounts on {', '.join(stray)} are not in platforms")
            if uncovered:
                parts.append(f"no selected account is on {', '.join(uncovered)}")
            message = "platforms and account_ids disagree: " + "; ".join(parts) + "."
            raise _invalid(message, ["platforms", "account_ids"])
        return targets

    def _schedule_of(
        self, body: dict[str, Any], now: dt.datetime
    ) -> tuple[dt.datetime, int | None, str | None]:
        raw_time, queue_id = body.get("scheduled_time"), body.get("queue_id")
        if raw_time is not None and queue_id is not None:
            raise _invalid("Provide scheduled_time or queue_id, not both.", ["scheduled_time", "queue_id"])
        if raw_time is None and queue_id is None:
            raise _invalid("Scheduling needs scheduled_time or queue_id.", ["scheduled_time", "queue_id"])
        if queue_id is not None:
            if not isinstance(queue_id, int) or isinstance(queue_id, bool) or queue_id <= 0:
                raise _invalid("queue_id must be a positive integer.", ["queue_id"])
            # Every emulated queue has hourly slots: the next open one is the next full hour.
            slot = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
            taken = {p.start_at for p in self.posts.values() if p.queue_id == queue_id}
            while slot in taken:
                slot += dt.timedelta(hours=1)
            return slot, queue_id, None
        timezone = body.get("timezone") or "UTC"
        try:
            zone = ZoneInfo(str(timezone))
        except (ZoneInfoNotFoundError, ValueError):
            raise _invalid(f"Unknown timezone {timezone!r}.", ["timezone"]) from None
        try:
            when = dt.datetime.fromisoformat(str(raw_time).replace("Z", "+00:00"))
            if when.tzinfo is None:
                when = when.replace(tzinfo=zone)
            when = when.astimezone(UTC)  # OverflowError: year 9999 shifted past the calendar's end
        except (ValueError, OverflowError):
            raise _invalid("scheduled_time must be an ISO 8601 date-time.", ["scheduled_time"]) from None
        if when <= now:
            raise _invalid("scheduled_time must be in the future.", ["scheduled_time"])
        if when > now + MAX_SCHEDULE_AHEAD:
            message = f"scheduled_time must be within {MAX_SCHEDULE_AHEAD.days} days from now."
            raise _invalid(message, ["scheduled_time"])
        return when, None, str(timezone)

    def _duplicate_of(self, content: str, profile_id: int | None, now: dt.datetime) -> Post | None:
        for post in self.posts.values():
            if (
                post.content == content
                and post.profile_id == profile_id
                and now - post.created_at < DUPLICATE_WINDOW
            ):
                return post
        return None

    # -- read, lifecycle ----------------------------------------------------------------------

    def get_post(self, post_id: int, profile_id: int | None) -> Post:
        """Return a post (lifecycle brought up to date) or raise ``404 RESOURCE_NOT_FOUND``."""
        with self.lock:
            post = self.posts.get(post_id)
            if post is None or post.profile_id != profile_id:
                raise ApiError(404, "RESOURCE_NOT_FOUND", "Post not found.", {"id": post_id})
            self._advance(post)
            return post

    def list_posts(self, profile_id: int | None, status: str | None, platform: str | None) -> list[Post]:
        """Return the posts of ``profile_id``, newest first, filtered by status and platform."""
        with self.lock:
            self.tick_posts()
            return [
                p
                for p in sorted(self.posts.values(), key=lambda p: p.id, reverse=True)
                if p.profile_id == profile_id
                and (status is None or p.status == status)
                and (platform is None or platform in p.platforms)
            ]

    def tick_posts(self) -> None:
        """Bring every post's lifecycle up to date (also called by a background task)."""
        with self.lock:
            for post in list(self.posts.values()):
                self._advance(post)

    def _advance(self, post: Post) -> None:
        # Lazy evaluation of time: the stage follows from how long ago the publish run started.
        if post.status in TERMINAL_STATUSES:
            return
        now = self.clock()
        if now < post.start_at:
            return
        if post.status == "scheduled":
            post.status = "processing"
        elapsed = (now - post.start_at).total_seconds()
        stage_seconds = self.posts_settings.stage_seconds
        index = int(elapsed // stage_seconds) if stage_seconds > 0 else len(STAGES)
        if index < len(STAGES):
            post.publish_stage = STAGES[index]
            return
        self._finish(post, {p: self._failure_reason(post, p) for p in post.platforms})

    def _failure_reason(self, post: Post, platform: str) -> str | None:
        reason = self.posts_settings.fail_platforms.get(platform)
        if reason:
            return reason
        problems = []
        for account in self._accounts_on(post, platform):
            if account is None:
                problems.append("the account was disconnected")
            elif account.paused:
                problems.append(f"account {account.name} is paused; skipped")
            elif account.health_status(self.clock()) != "connected":
                problems.append(f"the token of account {account.name} expired; reconnect it")
        return "; ".join(problems) or None

    def _accounts_on(self, post: Post, platform: str) -> list[Account | None]:
        found = [self.accounts.get(i) for i in post.account_ids]
        return [a for a in found if a is None or a.platform == platform]

    def _finish(self, post: Post, reasons: dict[str, str | None]) -> None:
        now = self.clock()
        errors = dict(post.post_urls.get("_errors") or {})
        for platform, reason in reasons.items():
            if reason:
                errors[platform] = reason
                continue
            errors.pop(platform, None)
            accounts = [a for a in self._accounts_on(post, platform) if a is not None]
            host = _PERMALINK_HOSTS.get(platform, f"{platform}.com")
            post.post_urls[platform] = [f"https://{host}/{a.username}/posts/{post.id}" for a in accounts]
            post.post_ids[platform] = [f"{platform}_{post.id}_{a.id}" for a in accounts]
        if errors:
            post.post_urls["_errors"] = errors
        else:
            post.post_urls.pop("_errors", None)
        published = [p for p in post.platforms if p not in errors]
        post.status = "failed" if not published else "partially_published" if errors else "published"
        post.publish_stage = None
        if published and post.published_at is None:
            post.published_at = now
        action = {
            "published": "post_published",
            "partially_published": "post_partially_published",
            "failed": "post_failed",
        }[post.status]
        self.record_write(
            action, post_id=post.id, source="internal", errors=dict(errors) or None, platforms=published
        )

    # -- retry, delete ------------------------------------------------------------------------

    def retry_post(self, post_id: int, profile_id: int | None, platforms: list[str] | None) -> dict[str, Any]:
        """Publish the failed platforms of a finished post again; answer the retry report."""
        with self.lock:
            post = self.get_post(post_id, profile_id)
            if post.status not in TERMINAL_STATUSES:
                raise _invalid(f"Post {post.id} is {post.status}; only finished posts can be retried.", [])
            failed = list((post.post_urls.get("_errors") or {}).keys())
            wanted = failed if platforms is None else [p for p in platforms if p in failed]
            unknown = [p for p in platforms or [] if p not in post.platforms]
            if unknown:
                raise _invalid(f"Post {post.id} was not sent to {', '.join(unknown)}.", ["platforms"])
            reasons = {p: self._failure_reason(post, p) for p in wanted}
            if wanted:
                self.record_write("post_retried", post_id=post.id, platforms=wanted)
                self._finish(post, reasons)
            final = {"published": "published", "partially_published": "partial"}.get(post.status, "failed")
            return {
                "success": bool(wanted) and not any(reasons.values()),
                "retried": wanted,
                "final_status": final,
                "platform_results": [{"success": not reasons[p], "error": reasons[p]} for p in wanted],
            }

    def delete_post(self, post_id: int, profile_id: int | None) -> None:
        """Delete a post (a scheduled one is cancelled)."""
        with self.lock:
            post = self.get_post(post_id, profile_id)
            del self.posts[post.id]
            self.record_write("post_deleted", post_id=post.id, cancelled=post.status == "scheduled" or None)

    def posts_snapshot(self) -> dict[str, Any]:
        """Return posts, charges and knobs for the control API."""
        with self.lock:
            self.tick_posts()
            return {
                "posts": [
                    {**p.to_api(), "profile_id": p.profile_id, "idempotency_key": p.idempotency_key}
                    for p in self.posts.values()
                ],
                "charges": list(self.credit_charges),
                "settings": self.posts_settings.to_dict(),
            }


def _string_list(body: dict[str, Any], field: str) -> list[str]:
    value = body.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _invalid(f"{field} must be a list of strings.", [field])
    return list(value)
