"""Wait in the triggerer until a SmartlyQ post has finished publishing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq.core.validation import validate_account_id
from airflow_provider_smartlyq.triggers._base import SmartlyQPollingTrigger
from airflow_provider_smartlyq.triggers._shared_polls import PostsPoll
from airflow_provider_smartlyq.waits.post_status import event_for_post, normalize_status

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from airflow_provider_smartlyq.triggers._base import PollingKwargs


class PostPublishedTrigger(SmartlyQPollingTrigger):
    """
    Wait until the post's ``status`` is final.

    Post waits on the same connection in one triggerer share their requests: one sweep of
    ``GET /social/posts`` (newest first, 100 a page, only as many pages as the oldest watched
    post needs) per interval serves them all; a post the sweep does not show, and a post
    waited for alone, is read with ``GET /social/posts/{post_id}``
    (see :mod:`~airflow_provider_smartlyq.triggers._shared_polls`).

    Yields exactly one event, then returns:

    * ``{"status": "published" | "partially_published" | "failed" | "cancelled", "post_id",
      "post_urls": {platform: [url, ...]}, "errors": {platform: reason}}``;
    * ``{"status": "timeout", "post_id", "last_status"}``: ``end_time`` passed first (a
      scheduled post keeps the trigger waiting until it publishes);
    * ``{"status": "error", "message": ...}``: a permanent error (401/403, 404: the post was
      deleted, a bad connection).

    Network errors, 429 and 5xx never end the wait: each is logged and polling goes on.

    :param post_id: The post to watch.

    The connection, interval and deadline are the kwargs of every polling trigger
    (``smartlyq_conn_id``, ``poll_interval``, ``end_time``: :class:`SmartlyQPollingTrigger`);
    without ``end_time`` the wait ends one hour after the trigger is first built.
    """

    default_wait = 60 * 60
    item_kwarg = "post_id"
    shared_poll = PostsPoll

    def __init__(self, post_id: int, **kwargs: Unpack[PollingKwargs]) -> None:
        # The connection, interval and deadline are the base's (one signature for every wait).
        self.post_id = validate_account_id(post_id, name="post_id")
        super().__init__(**kwargs)
        self._last_status: str | None = None

    def describe(self) -> str:
        """Return ``post <id>``."""
        return f"post {self.post_id}"

    def timeout_event(self) -> dict[str, Any]:
        """Return the timeout payload with the last status seen."""
        return {"status": "timeout", "post_id": self.post_id, "last_status": self._last_status}

    async def on_start(self) -> None:
        """Log what is awaited."""
        self.log.info(
            "Waiting for %s to finish publishing (polling every %.1f s)", self.describe(), self.poll_interval
        )

    def judge(self, answer: Any) -> dict[str, Any] | None:
        """Return the final event, or ``None`` while the post is scheduled or publishing."""
        post = answer
        status = normalize_status(post.get("status"))
        if status != self._last_status:
            self.log.info("%s is %s (stage %s)", self.describe(), status, post.get("publish_stage") or "-")
            self._last_status = status
        return event_for_post(post)
