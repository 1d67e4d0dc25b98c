"""Wait in the triggerer for a user to approve (or let expire) a SmartlyQ connect link."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq.core.validation import redact_token, short_token, validate_state_token
from airflow_provider_smartlyq.triggers._base import SmartlyQPollingTrigger
from airflow_provider_smartlyq.triggers._shared_polls import ConnectRotation
from airflow_provider_smartlyq.waits.connect_status import EXPIRY_GRACE, event_for_status, expires_at_of

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from airflow_provider_smartlyq.triggers._base import PollingKwargs


class ConnectCompletedTrigger(SmartlyQPollingTrigger):
    """
    Poll ``GET /social/connect/{state_token}`` until the link is connected or expired.

    There is no bulk endpoint for links: every connect wait on the same connection in one
    triggerer is checked in one rotation, one request at a time, least recently checked first
    and each no sooner than its ``poll_interval``. The hook paces the rotation within the
    background share of the request budget, so with many links the effective interval grows
    to about ``links / background requests per second`` (logged once when it does). A link
    past its ``expires_at`` (from the last answer) ends as ``expired`` without a request.

    Yields exactly one event, then returns:

    * ``{"status": "connected", "account": {...}}``: the user approved; ``account`` carries
      ``account_id`` (and ``id``), ``name``, ``username``, ``platform``;
    * ``{"status": "expired"}``: the link ended unused;
    * ``{"status": "timeout"}``: ``end_time`` passed first;
    * ``{"status": "error", "message": ...}``: a permanent error (401/403, 404, 422, bad connection).

    5xx, 429 and network errors never end the wait: each is logged and polling goes on.
    Logs and the repr show only the first characters of the state token.

    :param state_token: The link's state token (its ``state`` query parameter).

    The connection, interval and deadline are the kwargs of every polling trigger
    (``smartlyq_conn_id``, ``poll_interval``, ``end_time``: :class:`SmartlyQPollingTrigger`);
    without ``end_time`` the wait ends 20 minutes after the trigger is first built (SmartlyQ
    links live 15).
    """

    item_kwarg = "state_token"
    shared_poll = ConnectRotation

    def __init__(self, state_token: str, **kwargs: Unpack[PollingKwargs]) -> None:
        # The connection, interval and deadline are the base's (one signature for every wait).
        self.state_token = validate_state_token(state_token)
        super().__init__(**kwargs)
        self._expires_at: float | None = None

    def __repr__(self) -> str:
        # BaseTrigger's repr prints every kwarg; the whole token would let anyone use the link.
        return (
            f"{type(self).__name__}(state_token={short_token(self.state_token)!r}, "
            f"smartlyq_conn_id={self.smartlyq_conn_id!r}, poll_interval={self.poll_interval}, "
            f"end_time={self.end_time})"
        )

    def describe(self) -> str:
        """Return ``connect link <prefix>…``."""
        return f"connect link {short_token(self.state_token)}"

    def redact(self, text: str) -> str:
        """Shorten the state token wherever it appears (error messages carry the request path)."""
        return redact_token(text, self.state_token)

    async def on_start(self) -> None:
        """Log what is awaited (the token shortened; the hook's lines show it shortened too)."""
        # No amask_secret(state_token) here: Airflow's masker recompiles one regex of every
        # secret on each new one and runs it over every log line, so a triggerer holding 1,000
        # links blocked its loop for over a minute (benchmarks/bench_triggerer.py). Nothing
        # logs the whole token: our lines and the hook's (ApiRequest.log_path) show a prefix.
        self.log.info("Waiting for %s (polling every %.1f s)", self.describe(), self.poll_interval)

    def ended_without_request(self, now: float) -> dict[str, Any] | None:
        """Return ``expired`` once the link's ``expires_at`` (plus a grace) passed: no request needed."""
        if self._expires_at is not None and now >= self._expires_at + EXPIRY_GRACE:
            self.log.info("%s expired at its expires_at without being approved", self.describe())
            return {"status": "expired"}
        return None

    def wait_until(self) -> float:
        """Return the deadline, or the link's expiry when that comes first."""
        if self._expires_at is None:
            return self.end_time
        return min(self.end_time, self._expires_at + EXPIRY_GRACE)

    def judge(self, answer: Any) -> dict[str, Any] | None:
        """Return the connected/expired event, or ``None`` while the link is pending."""
        self._expires_at = expires_at_of(answer) or self._expires_at
        event = event_for_status(answer)
        if event is None:
            self.log.debug("%s is %s", self.describe(), answer.get("status"))
        else:
            self.log.info("%s is %s", self.describe(), event["status"])
        return event
