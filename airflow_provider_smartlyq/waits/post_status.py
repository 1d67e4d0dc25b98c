"""
Turn post answers into wait outcomes, the same way in every waiting mode.

The publish operator (polling in the worker or deferred), :class:`PostPublishedTrigger
<airflow_provider_smartlyq.triggers.smartlyq.PostPublishedTrigger>` and the post-status sensor
all call :func:`event_for_post` on each ``GET /social/posts/{id}`` answer and
:func:`result_from_event` on the final event, so a post ends the same way whichever of them
watched it. Standard library and the provider's light modules only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq.exceptions import SmartlyQError, SmartlyQPublishError, SmartlyQWaitError
from airflow_provider_smartlyq.waits.policy import ask_once

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook
    from airflow_provider_smartlyq.waits.policy import PollPacer

__all__ = [
    "check_post",
    "event_for_post",
    "push_post_xcoms",
    "result_from_event",
]

#: Final statuses (``partial`` is an older spelling of ``partially_published``).
PUBLISHED = "published"
PARTIAL = "partially_published"
FAILED = "failed"
FINAL_STATUSES = frozenset({PUBLISHED, PARTIAL, FAILED, "cancelled"})
_ALIASES = {"partial": PARTIAL, "canceled": "cancelled"}


def normalize_status(status: object) -> str | None:
    """Return the status with SmartlyQ's alternative spellings folded (``partial`` included)."""
    if not isinstance(status, str):
        return None
    lowered = status.strip().lower()
    return _ALIASES.get(lowered, lowered)


def urls_by_platform(post: Mapping[str, Any]) -> dict[str, list[str]]:
    """Return ``{platform: [permalink, ...]}`` from ``post_urls`` (reserved ``_`` keys dropped)."""
    raw = post.get("post_urls")
    result: dict[str, list[str]] = {}
    if not isinstance(raw, dict):
        return result
    for platform, value in raw.items():
        if str(platform).startswith("_"):
            continue
        urls = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        if cleaned := [str(url) for url in urls if url]:
            result[str(platform)] = cleaned
    return result


def errors_of(post: Mapping[str, Any]) -> dict[str, str]:
    """Return the failure reason per platform (``post_urls._errors``; ``_post`` = the whole post)."""
    raw = post.get("post_urls")
    errors = raw.get("_errors") if isinstance(raw, dict) else None
    if not isinstance(errors, dict):
        return {}
    return {str(k): str(v) for k, v in errors.items() if v}


def first_url(post_urls: Mapping[str, list[str]]) -> str | None:
    """Return the first permalink (for the task's "SmartlyQ post" button), ``None`` when none."""
    return next((urls[0] for urls in post_urls.values() if urls), None)


def event_for_post(post: Mapping[str, Any]) -> dict[str, Any] | None:
    """
    Return the final event for one post answer, or ``None`` while it is still on its way.

    :return: ``{"status", "post_id", "post_urls": {platform: [...]}, "errors": {platform: reason}}``
        once ``status`` is final (``published``, ``partially_published``, ``failed``,
        ``cancelled``). ``scheduled`` and unknown statuses are not final: waiting on is safer
        than failing on a new word.
    """
    status = normalize_status(post.get("status"))
    if status not in FINAL_STATUSES:
        return None
    return {
        "status": status,
        "post_id": post.get("id"),
        "post_urls": urls_by_platform(post),
        "errors": errors_of(post),
    }


def describe_errors(errors: Mapping[str, str]) -> str:
    """Return ``platform: reason; ...`` for a message."""
    return (
        "; ".join(f"{platform}: {reason}" for platform, reason in sorted(errors.items())) or "no reason given"
    )


def result_from_event(
    event: Mapping[str, Any], *, fail_on_partial: bool, log: Any, hint: str = ""
) -> dict[str, Any]:
    """
    Return the task result of a final event, or raise.

    :param event: A final event (:func:`event_for_post`), or a trigger's ``timeout``/``error``.
    :param fail_on_partial: Raise on ``partially_published`` too.
    :param log: The task's logger.
    :param hint: What to do next, appended to the message of a failed or partial post.
    :return: ``{post_id, status, post_urls, errors, url}`` for ``published``, and for
        ``partially_published`` when ``fail_on_partial`` is false (logged as a warning).
    :raises SmartlyQPublishError: ``failed``/``cancelled``, or partial with ``fail_on_partial``;
        the message lists every platform's error.
    :raises SmartlyQError: ``timeout`` or ``error`` events.
    """
    status = event.get("status")
    post_id = event.get("post_id")
    post = f"post {post_id}" if post_id is not None else "the post"  # error events carry no id
    if status == "timeout":
        raise SmartlyQError(
            f"{post.capitalize()} was still {event.get('last_status') or 'in progress'} "
            "when the wait timed out. It may still publish: watch it with SmartlyQPostStatusSensor, "
            "or raise the task's timeout."
        )
    if status == "error":
        raise SmartlyQWaitError(f"Waiting for {post} failed: {event.get('message') or 'unknown error'}")
    urls = {str(k): list(v) for k, v in dict(event.get("post_urls") or {}).items()}
    errors = {str(k): str(v) for k, v in dict(event.get("errors") or {}).items()}
    result = {
        "post_id": post_id,
        "status": status,
        "post_urls": urls,
        "errors": errors,
        "url": first_url(urls),
    }
    if status == PUBLISHED:
        log.info("Post %s published: %s", post_id, ", ".join(u for v in urls.values() for u in v) or "-")
        return result
    if status == PARTIAL and urls and not fail_on_partial:
        log.warning(
            "Post %s was published on %s only; failed on: %s",
            post_id,
            ", ".join(sorted(urls)),
            describe_errors(errors),
        )
        return result
    what = "partially published" if status == PARTIAL else str(status)
    retryable = status in (PARTIAL, FAILED) and hint
    raise SmartlyQPublishError(
        f"{post.capitalize()} {what}: {describe_errors(errors)}." + (f" {hint}" if retryable else ""),
        post_id=post_id,
        status=str(status),
        errors=errors,
        post_urls=urls,
    )


def check_post(
    hook: SmartlyQHook, post_id: int, log: Any, pacer: PollPacer | None = None
) -> tuple[dict[str, Any] | None, str | None]:
    """
    Read a post once from a worker; return ``(final event or None, current status)``.

    Transient errors (no answer, 429, 5xx after the hook's retries) count as "not yet", as in
    the trigger; permanent ones (404: the post was deleted) raise their typed error.

    :param pacer: The wait's pacer: told how the check went, so that the next pause honours
        a 429's ``Retry-After``.
    """
    post = ask_once(lambda: hook.get_post(post_id), pacer=pacer, log=log, what=f"post {post_id}")
    if post is None:
        return None, None
    status = normalize_status(post.get("status"))
    log.debug("Post %s is %s (stage %s)", post_id, status, post.get("publish_stage") or "-")
    return event_for_post(post), status


def push_post_xcoms(task: Any, ti: Any, event: Mapping[str, Any]) -> None:
    """Push XCom ``post_urls`` (per platform) and ``post_url`` (the first, for ``task``'s extra link)."""
    from airflow_provider_smartlyq.links import SmartlyQPostLink, push_link

    if event.get("status") in ("timeout", "error"):
        return
    urls = dict(event.get("post_urls") or {})
    ti.xcom_push(key="post_urls", value=urls)
    if (url := first_url(urls)) is not None:
        push_link(task, ti, SmartlyQPostLink.xcom_key, url)
