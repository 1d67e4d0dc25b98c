"""Wait in the triggerer for a user to approve (or let expire) a SmartlyQ connect link."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq._waiting import redact_token, short_token
from airflow_provider_smartlyq.connect_status import event_for_status
from airflow_provider_smartlyq.triggers._base import SmartlyQPollingTrigger
from airflow_provider_smartlyq.validation import validate_state_token

if TYPE_CHECKING:
    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook


class ConnectCompletedTrigger(SmartlyQPollingTrigger):
    """
    Poll ``GET /social/connect/{state_token}`` until the link is connected or expired.

    Yields exactly one event, then returns:

    * ``{"status": "connected", "account": {...}}``: the user approved; ``account`` carries
      ``account_id`` (and ``id``), ``name``, ``username``, ``platform``;
    * ``{"status": "expired"}``: the link ended unused;
    * ``{"status": "timeout"}``: ``end_time`` passed first;
    * ``{"status": "error", "message": ...}``: a permanent error (401/403, 404, 422, bad connection).

    5xx, 429 and network errors never end the wait: each is logged and polling goes on.
    Logs and the repr show only the first characters of the state token.

    :param state_token: The link's state token (its ``state`` query parameter).
    :param smartlyq_conn_id: The Airflow connection to use.
    :param poll_interval: Seconds between polls.
    :param end_time: Deadline as unix seconds; ``None`` = 20 minutes after the trigger is
        first built (SmartlyQ links live 15), stored in the kwargs so a rebuilt trigger keeps it.
    """

    def __init__(
        self,
        state_token: str,
        smartlyq_conn_id: str = "smartlyq_default",
        poll_interval: float = 5.0,
        end_time: float | None = None,
    ) -> None:
        self.state_token = validate_state_token(state_token)
        super().__init__(smartlyq_conn_id=smartlyq_conn_id, poll_interval=poll_interval, end_time=end_time)

    def __repr__(self) -> str:
        # BaseTrigger's repr prints every kwarg; the whole token would let anyone use the link.
        return (
            f"{type(self).__name__}(state_token={short_token(self.state_token)!r}, "
            f"smartlyq_conn_id={self.smartlyq_conn_id!r}, poll_interval={self.poll_interval}, "
            f"end_time={self.end_time})"
        )

    def trigger_kwargs(self) -> dict[str, Any]:
        """Return ``{"state_token": ...}``."""
        return {"state_token": self.state_token}

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

    async def poll(self, hook: SmartlyQHook) -> dict[str, Any] | None:
        """Return the connected/expired event, or ``None`` while the link is pending."""
        answer = await hook.aget_connect_status(self.state_token)
        event = event_for_status(answer)
        if event is None:
            self.log.debug("%s is %s", self.describe(), answer.get("status"))
        else:
            self.log.info("%s is %s", self.describe(), event["status"])
        return event
