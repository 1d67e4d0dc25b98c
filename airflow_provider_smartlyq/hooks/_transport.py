"""
Move SmartlyQ requests over the wire: ``requests`` for tasks, ``aiohttp`` for triggers.

Both transports defer every decision (headers, error mapping, retries) to
:mod:`airflow_provider_smartlyq.hooks._protocol`, and run each call by the one protocol of
:class:`_Transport` (budget, deadline, what an answer means); they differ only in how bytes
travel and how they wait.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import http.cookiejar
import logging
import re
import ssl
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import requests
from tenacity import AsyncRetrying, Retrying
from yarl import URL

from airflow_provider_smartlyq.core.validation import short_token
from airflow_provider_smartlyq.exceptions import SmartlyQConfigurationError, SmartlyQConnectionError
from airflow_provider_smartlyq.hooks import _metrics
from airflow_provider_smartlyq.hooks._budget import Priority, budget_for, current_deadline, priority_of
from airflow_provider_smartlyq.hooks._protocol import (
    ApiRequest,
    ApiResult,
    LoggerLike,
    RetryPolicy,
    interpret,
    parse_retry_after,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_smartlyq.hooks._budget import RequestBudget
    from airflow_provider_smartlyq.hooks._settings import ConnectionSettings

#: Sockets one event loop may hold open to SmartlyQ, whatever the number of waiting triggers.
ASYNC_POOL_LIMIT = 100
#: What HTTP forbids in a header value: every control character but tab (CR and LF included).
_HEADER_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class _ShortenStateTokens(logging.Filter):
    """
    Shorten connect state tokens in urllib3's request lines, as the hook's own lines do.

    urllib3 logs every request line, path included, at DEBUG, and a task log shows it when
    Airflow's ``logging_level`` is DEBUG. Whoever holds a state token can follow the connect,
    so ``GET …/social/connect/<token>`` is logged with the token's prefix only.
    """

    _POLL = re.compile(r"(GET \S*/social/connect/)([^/?#\s\"]+)")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/social/connect/" in message:
            record.msg, record.args = self._POLL.sub(lambda m: m[1] + short_token(m[2]), message), ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_ShortenStateTokens())


class _BearerAuth(requests.auth.AuthBase):
    """
    Authenticate with the API key as ``Authorization: Bearer <key>``.

    Set as the session's ``auth``, it also keeps requests from looking the host up in
    ``~/.netrc`` and replacing the header with netrc's credentials.
    """

    def __init__(self, settings: ConnectionSettings) -> None:
        self._settings = settings

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        header = ("Authorization", self._settings.authorization)
        # As requests checks headers passed in: a key with a line break or control character
        # raises InvalidHeader here, inside the call, where the transport turns it into
        # _bad_header. Our own check first: requests before 2.33 lets a trailing newline through
        # (its pattern ends in "$"), and http.client then raises a ValueError quoting the key.
        if _HEADER_CONTROL_CHARACTER.search(header[1]):
            raise requests.exceptions.InvalidHeader("Authorization: forbidden character (value not shown)")
        requests.utils.check_header_validity(header)
        request.headers["Authorization"] = header[1]
        return request


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Refuse every cookie: SmartlyQ authenticates by key, and a cookie must never outlive a call."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False


def _bad_header(request: ApiRequest) -> SmartlyQConfigurationError:
    # The HTTP libraries quote the offending header value (the Authorization header: the key)
    # in escaped form, which the log masker does not recognise: never use str() of that error.
    return SmartlyQConfigurationError(
        request.redact(
            f"{request.method} {request.path}: a request header holds a character HTTP forbids "
            "(value not shown); check the connection's API key and extras"
        )
    )


def _unreachable(request: ApiRequest, exc: BaseException) -> SmartlyQConnectionError:
    return SmartlyQConnectionError(
        request.redact(
            f"{request.method} {request.path}: no answer from SmartlyQ ({type(exc).__name__}: {exc})"
        ),
        method=request.method,
        path=request.log_path,
    )


@dataclass(frozen=True)
class _Plan:
    """One call as both transports run it: its request, how it is retried, what budget it asks."""

    request: ApiRequest
    #: Keyword arguments for ``tenacity.Retrying`` and ``AsyncRetrying`` alike (deadline included).
    retrying: dict[str, Any]
    #: The key's shared budget, or ``None`` when the connection switched it off.
    budget: RequestBudget | None
    #: Keyword arguments for the budget's ``acquire`` and ``aacquire`` alike.
    ask: dict[str, Any]


class _Transport:
    """
    The one request protocol of both transports; the subclasses only move bytes and wait.

    A call is planned once here (deadline, retries, priority, budget ask). Each attempt takes
    budget (``acquire`` in a task, ``aacquire`` on the triggerer's event loop), then the subclass
    sends the bytes and hands the outcome back: an answer to :meth:`_answered` (budget, metrics,
    log, :func:`~airflow_provider_smartlyq.hooks._protocol.interpret`), no answer to
    :meth:`_unreachable` or :meth:`_bad_header` (the grant is given back, the failure typed).
    """

    #: Whether this transport's reads are background polls (the async hook: triggers).
    background = False

    def __init__(
        self,
        settings: ConnectionSettings,
        policy: RetryPolicy,
        log: LoggerLike,
        budget_max_wait: float | None = None,
    ) -> None:
        self.settings = settings
        self.log = log
        self.budget: RequestBudget | None = budget_for(settings) if settings.budget_enabled else None
        self.policy = dataclasses.replace(policy, budget_holds=self.budget is not None)
        self.budget_max_wait = settings.budget_max_wait if budget_max_wait is None else budget_max_wait

    def _priority(self, request: ApiRequest) -> Priority:
        return priority_of(request.method, background=self.background)

    def _plan(self, request: ApiRequest) -> _Plan:
        # One deadline for the whole call: no retry sleep and no budget wait may pass it.
        deadline = current_deadline()
        ask = {
            "priority": self._priority(request),
            "reserve": self.settings.budget_reserve,
            "max_wait": self.budget_max_wait,
            "deadline": deadline,
            "log": self.log,
            "what": f"{request.method} {request.log_path}",
        }
        return _Plan(request, self.policy.tenacity_kwargs(self.log, request, deadline), self.budget, ask)

    def _answered(
        self, request: ApiRequest, status: int, headers: Mapping[str, str], body: bytes
    ) -> ApiResult:
        """Report an answer to the metrics and the budget, log it, and return what it means."""
        tags = {"conn_id": self.settings.conn_id, "priority": self._priority(request).name.lower()}
        _metrics.incr("smartlyq.api.requests", tags)
        if status == 429:
            _metrics.incr("smartlyq.api.rate_limited", tags)
        if self.budget is not None:
            retry_after = parse_retry_after(headers.get("Retry-After")) if status == 429 else None
            self.budget.observe(status, headers, retry_after)
        self.log.debug(
            "SmartlyQ %s %s -> HTTP %s (request id %s)",
            request.method,
            request.log_path,
            status,
            headers.get("X-Request-Id", "-"),
        )
        return interpret(request, status, headers, body)

    def _unanswered(self) -> None:
        """Give back the budget grant of an attempt that got no answer (it cost SmartlyQ nothing)."""
        if self.budget is not None:
            self.budget.release()

    def _unreachable(self, request: ApiRequest, exc: BaseException) -> SmartlyQConnectionError:
        """Return the error to raise for an attempt that reached no server, giving its grant back."""
        self._unanswered()
        return _unreachable(request, exc)

    def _bad_header(self, request: ApiRequest) -> SmartlyQConfigurationError:
        """
        Return the error to raise for a header the HTTP library refused, giving the grant back.

        Raise it outside the ``except`` block that caught the library's error: that error quotes
        the header (the key), and must not ride along as ``__context__``.
        """
        self._unanswered()
        return _bad_header(request)


class SyncTransport(_Transport):
    """Send requests through one keep-alive ``requests.Session``, opened on first use."""

    @functools.cached_property
    def session(self) -> requests.Session:
        """The keep-alive session, opened by the first call (a hook that never calls opens none)."""
        session = requests.Session()
        session.auth = _BearerAuth(self.settings)
        # No cookie persistence: a Set-Cookie answered to one call must not ride on the next.
        session.cookies.set_policy(_NoCookies())
        return session

    def call(self, request: ApiRequest) -> ApiResult:
        """Send ``request``, retrying per the policy; return the result or raise a typed error."""
        plan = self._plan(request)
        result: ApiResult = Retrying(**plan.retrying)(self._attempt, plan)
        return result

    def _attempt(self, plan: _Plan) -> ApiResult:
        """One try: wait for budget (blocking this worker thread), then send."""
        if plan.budget is not None:
            plan.budget.acquire(**plan.ask)
        return self._once(plan.request)

    def _once(self, request: ApiRequest) -> ApiResult:
        response: requests.Response | None = None
        try:
            response = self.session.request(
                request.method,
                self.settings.url(request.path),
                params=request.params,
                data=request.body(),
                headers=request.headers(self.settings),
                timeout=self.settings.timeout,
                verify=self.settings.verify,
                allow_redirects=False,
            )
            body = response.content
        except requests.exceptions.InvalidHeader:
            response = None  # raised below, outside this block: see _bad_header
        except requests.RequestException as exc:
            raise self._unreachable(request, exc) from None
        if response is None:
            raise self._bad_header(request)
        return self._answered(request, response.status_code, response.headers, body)

    def close(self) -> None:
        """Close the session if it was opened; a later call opens a new one."""
        session = vars(self).pop("session", None)  # cached_property keeps it in the instance dict
        if session is not None:
            session.close()


class AsyncTransport(_Transport):
    """Send requests through the event loop's shared ``aiohttp`` session (see :class:`SessionPool`)."""

    background = True
    # Leased from POOL on the first call, on the loop it runs on.
    _session: aiohttp.ClientSession | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def call(self, request: ApiRequest) -> ApiResult:
        """Send ``request``, retrying per the policy; return the result or raise a typed error."""
        if self._session is None or self._session.closed or self._loop is not asyncio.get_running_loop():
            # First call, or the hook is reused on another event loop: lease that loop's session.
            # ssl_for() and env_proxy() are cached per process, but their first call reads files
            # (the CA bundle, ~0.1 s; ~/.netrc): make it in a thread, never on the event loop.
            await asyncio.to_thread(_warm_up, self.settings)
            # Concurrent first calls on one hook (a shared poller's) all waited above: only
            # the first leases a session, or the others' leases would never be given back.
            if self._session is None or self._session.closed or self._loop is not asyncio.get_running_loop():
                self._session = POOL.acquire()
                self._loop = asyncio.get_running_loop()
        plan = self._plan(request)
        result: ApiResult = await AsyncRetrying(**plan.retrying)(self._attempt, self._session, plan)
        return result

    async def _attempt(self, session: aiohttp.ClientSession, plan: _Plan) -> ApiResult:
        """One try: wait for budget (without blocking the event loop), then send."""
        if plan.budget is not None:
            await plan.budget.aacquire(**plan.ask)
        return await self._once(session, plan.request)

    async def _once(self, session: aiohttp.ClientSession, request: ApiRequest) -> ApiResult:
        proxy, proxy_auth = env_proxy(self.settings.base_url)
        status: int | None = None
        try:
            async with session.request(
                request.method,
                self.settings.url(request.path),
                params=request.params,
                data=request.body(),
                headers={**request.headers(self.settings), "Authorization": self.settings.authorization},
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
                ssl=ssl_for(self.settings.verify),
                allow_redirects=False,
                proxy=proxy,
                proxy_auth=proxy_auth,
            ) as response:
                body = await response.read()
                status, headers = response.status, response.headers
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise self._unreachable(request, exc) from None
        except ValueError:  # aiohttp's "forbidden control character in headers" check
            status = None  # raised below, outside this block: see _bad_header
        except BaseException:  # cancelled (a trigger removed mid-request): the grant is spent
            self._unanswered()
            raise
        if status is None:
            raise self._bad_header(request)
        return self._answered(request, status, headers, body)

    async def close(self) -> None:
        """Release this transport's use of the shared session (closing it if nobody else uses it)."""
        if self._session is not None:
            session, self._session = self._session, None
            await POOL.release(session)


@functools.lru_cache(maxsize=16)
def ssl_for(verify: bool | str) -> ssl.SSLContext | bool:
    """
    Return the ``ssl`` argument for aiohttp, building each SSL context once per process.

    An SSL context costs about 0.8 MB and milliseconds of CPU: it must not be built per poll.
    """
    if verify is False:
        return False
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return ssl.create_default_context()


@functools.lru_cache(maxsize=16)
def env_proxy(base_url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """
    Return the proxy (and its auth) the environment names for ``base_url``, looked up once.

    ``HTTPS_PROXY``/``NO_PROXY`` are honoured as ``requests`` honours them for the sync hook.
    The shared session does not set ``trust_env``: aiohttp would then redo this lookup and
    read ``~/.netrc`` in worker threads on every request, two thread hops per poll (about a
    third of a trigger's CPU per poll, see benchmarks/bench_triggerer.py).
    """
    url = URL(base_url)
    # The standard library's reading of the environment (the one requests uses too):
    # ``<scheme>_proxy`` variables, and ``no_proxy`` for the hosts that bypass them.
    proxy = urllib.request.getproxies().get(url.scheme)
    if not proxy or (url.host is not None and urllib.request.proxy_bypass(url.host)):
        return None, None
    proxy_url = URL(proxy if "://" in proxy else f"http://{proxy}")
    # Credentials in the proxy URL travel as Proxy-Authorization, not in the URL itself.
    auth = aiohttp.BasicAuth.from_url(proxy_url) if proxy_url.user else None
    return proxy_url.with_user(None), auth


def _warm_up(settings: ConnectionSettings) -> None:
    """Fill the per-process caches of :func:`ssl_for` and :func:`env_proxy` (blocking: run in a thread)."""
    ssl_for(settings.verify)
    env_proxy(settings.base_url)


@dataclass
class _Shared:
    loop: asyncio.AbstractEventLoop
    session: aiohttp.ClientSession
    leases: int = 0


class SessionPool:
    """
    Share one ``aiohttp.ClientSession`` per event loop, counted by lease.

    Thousands of triggers waiting in one triggerer then hold a bounded pool of sockets (at most
    :data:`ASYNC_POOL_LIMIT`) and one set of buffers, instead of a session each. The session
    closes when its last user releases it. Headers (the API key) travel per request, so hooks
    on different connections can share it safely.
    """

    def __init__(self) -> None:
        # Keyed by id(loop): a session holds its loop, so a weak key would never be collected.
        # Entries of closed loops are dropped on the next acquire instead.
        self._shared: dict[int, _Shared] = {}

    def acquire(self) -> aiohttp.ClientSession:
        """Return the running loop's shared session, creating it on first use."""
        loop = asyncio.get_running_loop()
        self._forget_closed_loops()
        entry = self._shared.get(id(loop))
        if entry is None or entry.loop is not loop or entry.session.closed:
            connector = aiohttp.TCPConnector(limit=ASYNC_POOL_LIMIT, keepalive_timeout=30, ttl_dns_cache=300)
            # DummyCookieJar: the session is shared by every connection on this loop, so a cookie
            # answered to connection A would otherwise be sent with connection B's requests.
            session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
            entry = _Shared(loop, session)  # proxies: env_proxy()
            self._shared[id(loop)] = entry
        entry.leases += 1
        return entry.session

    async def release(self, session: aiohttp.ClientSession) -> None:
        """Give back one lease on ``session``; close it when it was the last."""
        for key, entry in list(self._shared.items()):
            if entry.session is session:
                entry.leases -= 1
                if entry.leases > 0:
                    return
                del self._shared[key]
        if not session.closed:
            await session.close()

    def leases(self) -> int:
        """Return how many leases are held on the running loop's session (for tests and benchmarks)."""
        entry = self._shared.get(id(asyncio.get_running_loop()))
        return entry.leases if entry is not None else 0

    def _forget_closed_loops(self) -> None:
        # A loop closed with leases still out (a hook never released): its session cannot be
        # closed any more, only dropped, so that the loop and its buffers can be collected.
        for key, entry in list(self._shared.items()):
            if entry.loop.is_closed():
                del self._shared[key]


#: The process-wide pool; one session per event loop lives in it.
POOL = SessionPool()
