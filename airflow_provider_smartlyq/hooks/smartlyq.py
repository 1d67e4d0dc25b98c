"""Hook for SmartlyQ's social-account API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_smartlyq.hooks import _operations as ops, _post_operations as post_ops
from airflow_provider_smartlyq.hooks._protocol import RetryPolicy
from airflow_provider_smartlyq.hooks._settings import ConnectionSettings, settings_from_connection
from airflow_provider_smartlyq.hooks._transport import AsyncTransport, SyncTransport

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable, Mapping

    import requests

    from airflow_provider_smartlyq.hooks._operations import Operation


class SmartlyQHook(BaseHook):
    """
    Talk to SmartlyQ's social-account API through an Airflow connection.

    The connection's password is the API key, its host the base URL (default
    ``https://api.smartlyq.com``). Extras: ``profile_id`` (sent as ``X-Profile-Id``),
    ``timeout`` (seconds, default 30), ``max_retries`` (default 5), ``ca_bundle``,
    ``budget_reserve`` (default 0.2), ``budget_max_wait`` (seconds, default 300) and
    ``request_budget`` (default true).

    Every method returns the API's ``data`` as plain dicts and lists, ready for XCom. Sync
    methods share one keep-alive ``requests.Session``; the ``a``-prefixed async twins share
    one ``aiohttp`` session per event loop and must be released with :meth:`aclose`. Both retry
    connection errors, timeouts, 429 and 5xx with jittered exponential backoff (at least
    ``Retry-After`` when sent); writes carry an ``X-Idempotency-Key`` so that a retry never acts
    twice.

    Every hook in a process shares one request budget per API key, fed by SmartlyQ's
    ``X-RateLimit-*`` headers: writes go first, then sync reads (tasks), then async reads
    (triggers), which leave the ``budget_reserve`` share of each window to the others. A 429
    holds every request on the key until ``Retry-After``. See ``docs/budget.md``.

    :param smartlyq_conn_id: The Airflow connection to use.
    :param timeout: Seconds per request; overrides the connection's ``timeout`` extra.
    :param max_retries: Retries after the first attempt; overrides the ``max_retries`` extra.
    :param retry_min_wait: Shortest backoff between attempts, in seconds.
    :param retry_max_wait: Longest backoff between attempts, in seconds (``Retry-After`` aside).
    """

    conn_name_attr = "smartlyq_conn_id"
    default_conn_name = "smartlyq_default"
    conn_type = "smartlyq"
    hook_name = "SmartlyQ"

    def __init__(
        self,
        smartlyq_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_min_wait: float = 0.5,
        retry_max_wait: float = 30.0,
        logger_name: str | None = None,
    ) -> None:
        super().__init__(logger_name=logger_name)
        self.smartlyq_conn_id = smartlyq_conn_id
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_min_wait = retry_min_wait
        self.retry_max_wait = retry_max_wait
        # Nothing is read or opened here: DAG files build hooks at parse time.
        self._sync: SyncTransport | None = None
        self._async: AsyncTransport | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(smartlyq_conn_id={self.smartlyq_conn_id!r})"

    # -- plumbing ----------------------------------------------------------------------------

    def _settings_from(self, conn: Any) -> ConnectionSettings:
        return settings_from_connection(conn, timeout=self.timeout, max_retries=self.max_retries)

    def _policy(self, settings: ConnectionSettings) -> RetryPolicy:
        return RetryPolicy(settings.max_retries, self.retry_min_wait, self.retry_max_wait)

    def _transport(self) -> SyncTransport:
        if self._sync is None:
            settings = self._settings_from(self.get_connection(self.smartlyq_conn_id))
            from airflow_provider_smartlyq._compat import mask_secret

            mask_secret(settings.api_key)  # Airflow masks passwords too; this covers custom backends
            self._sync = SyncTransport(settings, self._policy(settings), self.log)
        return self._sync

    async def _atransport(self) -> AsyncTransport:
        if self._async is None:
            settings = self._settings_from(await self.aget_connection(self.smartlyq_conn_id))
            from airflow_provider_smartlyq._compat import amask_secret

            await amask_secret(settings.api_key)  # the sync twin would block the triggerer's loop
            # Concurrent first calls (a shared poller's) all awaited above: keep the first
            # transport, or the others' session leases would never be given back.
            if self._async is None:
                self._async = AsyncTransport(settings, self._policy(settings), self.log)
        return self._async

    def _run(self, operation: Operation, transport: SyncTransport | None = None) -> Any:
        return operation.shape((transport or self._transport()).call(operation.request))

    async def _arun(self, operation: Operation) -> Any:
        transport = await self._atransport()
        return operation.shape(await transport.call(operation.request))

    @property
    def settings(self) -> ConnectionSettings:
        """Return the settings read from the connection (reading it on first use)."""
        return self._transport().settings

    def get_conn(self) -> requests.Session:
        """Return the hook's keep-alive ``requests.Session`` (authentication is added per request)."""
        return self._transport().session

    def close(self) -> None:
        """Close the sync session."""
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        """Release this hook's use of the event loop's shared aiohttp session."""
        if self._async is not None:
            await self._async.close()

    def __enter__(self) -> SmartlyQHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> SmartlyQHook:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- account and connection --------------------------------------------------------------

    def get_me(self) -> dict[str, Any]:
        """Return the profile of the user the API key belongs to (``GET /me``)."""
        return self._run(ops.get_me())

    def test_connection(self) -> tuple[bool, str]:
        """
        Check the connection with one ``GET /me``; never raise and never show the key.

        One attempt, without the hook's retries: the Test button must answer within one
        timeout, not after minutes of backoff against an unreachable host.

        :return: ``(True, description)`` when SmartlyQ accepted the key, else ``(False, reason)``.
        """
        api_key = ""
        try:
            settings = self.settings
            api_key = settings.api_key
            # No wait for request budget either: an exhausted key is a reason to show now.
            once = SyncTransport(settings, RetryPolicy(max_retries=0), self.log, budget_max_wait=0)
            try:
                me = self._run(ops.get_me(), once)
            finally:
                once.close()
        except Exception as exc:  # the Test button must show a reason, not a traceback
            reason = f"{type(exc).__name__}: {exc}"
            return False, reason.replace(api_key, "***") if api_key else reason
        who = (me.get("name") or me.get("email") or me.get("id")) if isinstance(me, dict) else None
        return True, f"Connected to SmartlyQ at {settings.base_url} as {who or 'unknown user'}"

    # -- headless connect --------------------------------------------------------------------

    def create_connect_link(
        self,
        platform: str,
        return_url: str | None = None,
        *,
        credentials: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """
        Request a single-use OAuth connect link (``POST /social/connect/{platform}``).

        :param platform: Platform name, any case; ``x`` means ``twitter``, ``google_business`` ``gmb``.
        :param return_url: Absolute https URL (http only for localhost) the browser returns to.
        :param credentials: For credential platforms only (bluesky: ``identifier`` and
            ``app_password``; telegram: ``bot_token`` and ``chat``; whatsapp: its phone number id
            and token): sent in the body, and the account connects at once.
        :param idempotency_key: Replay key; generated when not given.
        :return: ``{platform, connect_url, expires_at, state_token}``; ``state_token`` is parsed
            from the URL's ``state`` parameter (``None`` if absent). Credential platforms that
            connect at once answer ``{platform, account}``, returned as they come.
        """
        return self._run(
            ops.create_connect_link(
                platform, return_url, credentials=credentials, idempotency_key=idempotency_key
            )
        )

    def get_connect_status(self, state_token: str) -> dict[str, Any]:
        """Return ``{platform, status, expires_at, account}`` for a connect link's state token."""
        return self._run(ops.get_connect_status(state_token))

    async def aget_connect_status(self, state_token: str) -> dict[str, Any]:
        """Return ``{platform, status, expires_at, account}`` for a state token (async)."""
        return await self._arun(ops.get_connect_status(state_token))

    # -- accounts ----------------------------------------------------------------------------

    def list_accounts(self) -> list[dict[str, Any]]:
        """Return every connected account visible to the key (and profile), all pages."""
        transport = self._transport()
        operation = ops.list_accounts()
        result = transport.call(operation.request)
        accounts = list(result.data or [])
        page = 1
        # The list is documented unpaged; follow pagination anyway if SmartlyQ starts sending it.
        per_page = int(result.pagination.get("per_page") or 0) if result.pagination else 0
        while result.pagination and page < int(result.pagination.get("pages") or 1):
            page += 1
            result = transport.call(ops.list_accounts(page, per_page or None).request)
            accounts.extend(result.data or [])
        return accounts

    def get_accounts_health(self) -> dict[str, Any]:
        """
        Return the health of every account in one request (``GET /social/accounts/health``).

        :return: ``{healthy, expiring, expired, paused, accounts: [...]}``; each account carries
            a ``paused`` flag (derived from ``is_active`` when SmartlyQ does not send one).
        """
        return self._run(ops.get_accounts_health())

    async def aget_accounts_health(self) -> dict[str, Any]:
        """Return the health of every account in one request (async)."""
        return await self._arun(ops.get_accounts_health())

    def get_account_health(self, account_id: int) -> dict[str, Any]:
        """Return ``{id, platform, account_name, status, token_expired, validity_days}`` for one account."""
        return self._run(ops.get_account_health(account_id))

    async def aget_account_health(self, account_id: int) -> dict[str, Any]:
        """Return one account's health (async)."""
        return await self._arun(ops.get_account_health(account_id))

    def get_reconnect_url(self, account_id: int) -> str:
        """Return the URL through which a user re-authorises an account (the same account resumes)."""
        return self._run(ops.get_reconnect_url(account_id))

    async def aget_reconnect_url(self, account_id: int) -> str:
        """Return an account's re-authorisation URL (async)."""
        return await self._arun(ops.get_reconnect_url(account_id))

    def pause_account(self, account_id: int, *, idempotency_key: str | None = None) -> dict[str, Any]:
        """Pause posting to an account without disconnecting it; return ``{id, paused}``."""
        return self._run(ops.set_paused(account_id, True, idempotency_key=idempotency_key))

    def resume_account(self, account_id: int, *, idempotency_key: str | None = None) -> dict[str, Any]:
        """Resume posting to a paused account; return ``{id, paused}``."""
        return self._run(ops.set_paused(account_id, False, idempotency_key=idempotency_key))

    def disconnect_account(self, account_id: int, *, idempotency_key: str | None = None) -> None:
        """Disconnect an account (``DELETE /social/accounts/{id}``). Irreversible."""
        self._run(ops.disconnect_account(account_id, idempotency_key=idempotency_key))

    # -- posts -------------------------------------------------------------------------------

    def create_post(
        self,
        content: str,
        account_ids: int | str | Iterable[int | str],
        platforms: str | Iterable[str] | None = None,
        media_urls: str | Iterable[str] | None = None,
        link: str | None = None,
        platform_options: Mapping[str, Any] | None = None,
        allow_duplicates: bool = False,
        scheduled_time: dt.datetime | str | None = None,
        timezone: str | None = None,
        queue_id: int | str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """
        Publish a post now (``POST /social/posts``), or schedule it (``/social/posts/schedule``).

        Everything is checked before anything is sent. Publishing runs asynchronously: poll
        :meth:`get_post` until ``status`` is final.

        :param content: The text. Must not be blank.
        :param account_ids: Accounts to post to (at least one).
        :param platforms: Their platforms; derived from the accounts (one ``list_accounts``
            call) when omitted.
        :param media_urls: Images or videos to attach.
        :param link: URL to include.
        :param platform_options: Per-platform options, e.g. ``{"instagram": {"content": "..."}}``.
        :param allow_duplicates: Skip SmartlyQ's 24-hour duplicate-content guard.
        :param scheduled_time: When to publish: an aware datetime or ISO string, or a naive one
            together with ``timezone``.
        :param timezone: IANA zone of ``scheduled_time`` (e.g. ``"Europe/Paris"``).
        :param queue_id: Schedule into this posting queue's next slot (not with ``scheduled_time``).
        :param idempotency_key: Replay key (at most 64 of ``[A-Za-z0-9._:-]``): the same key with
            the same body returns the original post for 24 hours instead of posting again.
            Generated per call when not given (then only the hook's own retries replay).
        :return: The post, with ``idempotent_replay`` (``True`` when SmartlyQ replayed it).
        :raises SmartlyQInsufficientBalanceError: 402, out of credits.
        :raises SmartlyQDuplicateContentError: 409, same content within 24 h (``existing_post_id``).
        :raises SmartlyQIdempotencyConflictError: 409, the key was used with a different body.
        """
        draft = post_ops.post_draft(
            content,
            account_ids,
            platforms=platforms,
            media_urls=media_urls,
            link=link,
            platform_options=platform_options,
            allow_duplicates=allow_duplicates,
            scheduled_time=scheduled_time,
            timezone=timezone,
            queue_id=queue_id,
            idempotency_key=idempotency_key,
        )
        if "platforms" not in draft.body:
            draft = draft.with_platforms(post_ops.platforms_of(draft.account_ids, self.list_accounts()))
        return self._run(post_ops.create_post(draft))

    def get_post(self, post_id: int) -> dict[str, Any]:
        """Return a post: ``status``, ``publish_stage``, ``post_urls`` (``_errors`` per failed platform)..."""
        return self._run(post_ops.get_post(post_id))

    async def aget_post(self, post_id: int) -> dict[str, Any]:
        """Return a post (async)."""
        return await self._arun(post_ops.get_post(post_id))

    def list_posts(
        self, status: str | None = None, platform: str | None = None, *, max_pages: int | None = None
    ) -> list[dict[str, Any]]:
        """
        Return posts, newest first, every page (or the first ``max_pages``), 100 per request.

        :param status: Only posts with this status (the API filters ``scheduled``,
            ``published``, ``failed`` and ``external``).
        :param platform: Only posts to this platform.
        """
        posts: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self._run(post_ops.list_posts(page, post_ops.MAX_PER_PAGE, status, platform))
            posts.extend(answer["posts"])
            pages = int(answer["pagination"].get("pages") or 1)
            if not answer["posts"] or page >= pages or (max_pages is not None and page >= max_pages):
                return posts
            page += 1

    async def alist_posts_page(
        self,
        page: int = 1,
        per_page: int = post_ops.MAX_PER_PAGE,
        status: str | None = None,
        platform: str | None = None,
    ) -> dict[str, Any]:
        """
        Return one page of posts, newest first (async).

        :return: ``{"posts": [...], "pagination": {page, per_page, total, pages}}``.
        """
        return await self._arun(post_ops.list_posts(page, per_page, status, platform))

    def validate_post(
        self,
        content: str,
        platforms: str | Iterable[str],
        media_urls: str | Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """Dry-run SmartlyQ's content checks (free); return ``{valid, errors, platforms}``."""
        return self._run(post_ops.validate_post(content, platforms, media_urls))

    def retry_post(
        self,
        post_id: int,
        platforms: str | Iterable[str] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Publish a finished post's failed platforms again; return ``{retried, final_status, ...}``."""
        return self._run(post_ops.retry_post(post_id, platforms, idempotency_key=idempotency_key))

    def delete_post(self, post_id: int, *, idempotency_key: str | None = None) -> None:
        """Delete a post (a scheduled one is cancelled)."""
        self._run(post_ops.delete_post(post_id, idempotency_key=idempotency_key))
