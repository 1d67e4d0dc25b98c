"""
Run the SmartlyQ emulator inside a test process and drive its control API.

Example::

    from airflow_provider_smartlyq.testing.emulator import run_emulator

    with run_emulator(auto_approve_after=1) as emu:
        os.environ["AIRFLOW_CONN_SMARTLYQ_DEFAULT"] = emu.connection_json()
        ...
        assert [w["action"] for w in emu.client.writes()] == ["connect_link_created", "account_connected"]

FastAPI and uvicorn are imported only when a server starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Any

import requests

from airflow_provider_smartlyq.emulator.config import DEFAULT_API_KEY

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_smartlyq.emulator.config import EmulatorConfig
    from airflow_provider_smartlyq.emulator.state import EmulatorState

__all__ = ["DEFAULT_API_KEY", "EmulatorClient", "RunningEmulator", "run_emulator"]


class EmulatorClient:
    """
    Client of the emulator's ``/_emulator/`` control API.

    Every method answers the ``data`` of the envelope and raises
    :class:`requests.HTTPError` on an error status.

    :param base_url: Root URL of the emulator (no ``/v1``).
    :param control_token: Value for ``X-Emulator-Token`` when the emulator requires one.
    :param verify: TLS verification for an HTTPS emulator (path of its certificate).
    """

    def __init__(self, base_url: str, control_token: str | None = None, verify: bool | str = True) -> None:
        self.base_url = base_url.rstrip("/")
        self.verify = verify
        self.session = requests.Session()
        if control_token:
            self.session.headers["X-Emulator-Token"] = control_token

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        # verify per call: requests lets REQUESTS_CA_BUNDLE override a Session's verify.
        url = f"{self.base_url}/_emulator{path}"
        # Writes always carry a JSON body ({} when empty): the control API refuses other writes.
        payload = body if body is not None or method == "GET" else {}
        with self.session.request(method, url, json=payload, timeout=10, verify=self.verify) as response:
            response.raise_for_status()
            return response.json()["data"]

    def approve_connect(
        self, state_token: str, name: str | None = None, username: str | None = None
    ) -> list[dict[str, Any]]:
        """Approve a pending connect session (play the user); return the connected accounts."""
        body = {k: v for k, v in {"name": name, "username": username}.items() if v is not None}
        return list(self._call("POST", f"/connect/{state_token}/approve", body))

    def approve_latest_connect(
        self, platform: str | None = None, name: str | None = None, username: str | None = None
    ) -> dict[str, Any]:
        """
        Approve the most recently created pending link (of ``platform``, if given) without its token.

        Returns ``{state_token, accounts}``; raises :class:`requests.HTTPError` (404) when no link
        is pending.
        """
        fields = {"platform": platform, "name": name, "username": username}
        return dict(self._call("POST", "/connect/latest/approve", {k: v for k, v in fields.items() if v}))

    def expire_connect(self, state_token: str) -> dict[str, Any]:
        """Expire a pending connect session now."""
        return dict(self._call("POST", f"/connect/{state_token}/expire"))

    def add_account(
        self,
        platform: str,
        name: str,
        *,
        username: str | None = None,
        profile_id: int | None = None,
        validity_days: float | None = None,
        status: str | None = None,
        paused: bool | None = None,
    ) -> dict[str, Any]:
        """Create an account directly; return it with every field."""
        fields = {
            "username": username,
            "profile_id": profile_id,
            "validity_days": validity_days,
            "status": status,
            "paused": paused,
        }
        body = {"platform": platform, "name": name, **{k: v for k, v in fields.items() if v is not None}}
        return dict(self._call("POST", "/accounts", body))

    def update_account(self, account_id: int, **fields: Any) -> dict[str, Any]:
        """Change ``validity_days``, ``status``, ``paused``, ``name``, ``username``, ``profile_id``..."""
        return dict(self._call("PATCH", f"/accounts/{account_id}", fields))

    def expire_account_token(self, account_id: int) -> dict[str, Any]:
        """Make an account's token expire now."""
        return dict(self._call("POST", f"/accounts/{account_id}/expire-token"))

    def inject_fault(
        self,
        path: str,
        method: str = "*",
        *,
        status: int | None = None,
        count: int = 1,
        retry_after: str | int | None = None,
        delay: float | None = None,
        body: str | None = None,
        content_type: str | None = None,
        code: str | None = None,
        message: str | None = None,
        drop_connection: bool = False,
        after: bool = False,
    ) -> str:
        """Register a fault for requests matching ``method`` and ``path`` (glob); return its id."""
        options = {
            "status": status,
            "retry_after": retry_after,
            "delay": delay,
            "body": body,
            "content_type": content_type,
            "code": code,
            "message": message,
        }
        payload: dict[str, Any] = {"path": path, "method": method, "count": count}
        payload.update({k: v for k, v in options.items() if v is not None})
        payload.update(drop_connection=drop_connection, after=after)
        return str(self._call("POST", "/faults", payload)["id"])

    def faults(self) -> list[dict[str, Any]]:
        """Return the registered faults with their remaining counts."""
        return list(self._call("GET", "/faults"))

    def clear_faults(self) -> int:
        """Remove every fault; return how many there were."""
        return int(self._call("DELETE", "/faults")["cleared"])

    def requests(self, *, at_least: int = 0, timeout: float = 3.0) -> list[dict[str, Any]]:
        """
        Return the request log (every ``/v1`` request).

        :param at_least: Wait (up to ``timeout`` seconds) until the log holds this many entries.
            A dropped connection is logged after its socket is aborted, so the client can see
            the reset before the entry exists: wait for it instead of racing it.
        :param timeout: Longest wait for ``at_least`` entries; the log is returned as it is then.
        """
        deadline = time.monotonic() + timeout
        log = list(self._call("GET", "/requests"))
        while len(log) < at_least and time.monotonic() < deadline:
            time.sleep(0.02)
            log = list(self._call("GET", "/requests"))
        return log

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        """Return every webhook delivery attempt, oldest first (event id, status, delivered)."""
        return list(self._call("GET", "/webhooks/deliveries"))

    def writes(self) -> list[dict[str, Any]]:
        """Return the write log (one entry per effective state change)."""
        return list(self._call("GET", "/writes"))

    def state(self) -> dict[str, Any]:
        """Return every account and connect session."""
        return dict(self._call("GET", "/state"))

    def posts(self) -> dict[str, Any]:
        """Return ``{posts, charges, settings}``: every post, each credit charge and the posts knobs."""
        return dict(self._call("GET", "/posts"))

    def update_posts_settings(self, **fields: Any) -> dict[str, Any]:
        """
        Change the posts knobs and return them all.

        :param fields: ``stage_seconds`` (duration of each of the 3 publish stages),
            ``fail_platforms`` (``{platform: reason}`` or a list of platforms that fail),
            ``balance`` (credits left; a post costs 0.015 per account) and ``duplicate_check``
            (the 24-hour duplicate-content guard, on by default).
        """
        return dict(self._call("PATCH", "/posts/settings", fields))

    def rate_limit_usage(self) -> dict[str, Any]:
        """
        Return the rate-limit settings and usage per window.

        ``{limit, window_seconds, scope, requests, limited, max_requests_per_window,
        max_accepted_per_window, windows: [{budget, start, end, requests, limited, accepted}]}``;
        windows are fixed, aligned on multiples of their length since the epoch, and a request
        answered 429 counts in ``requests`` and ``limited``.
        """
        return dict(self._call("GET", "/rate-limit"))

    def set_rate_limit(
        self, limit: int | None = None, *, window_seconds: float | None = None, scope: str | None = None
    ) -> dict[str, Any]:
        """
        Change the rate limit until the next :meth:`reset`; return :meth:`rate_limit_usage`.

        :param limit: Requests per window before ``429``; ``0`` switches limiting off.
        :param window_seconds: Window length (``>= 1``), e.g. 6 for fast tests.
        :param scope: ``key`` (a budget per API key) or ``workspace`` (one for all keys).
        """
        body = {"limit": limit, "window_seconds": window_seconds, "scope": scope}
        return dict(self._call("PATCH", "/rate-limit", {k: v for k, v in body.items() if v is not None}))

    def reset(self, seed: str = "demo") -> None:
        """Re-seed; clear logs, faults, idempotency keys and rate-limit counts and changes."""
        self._call("POST", "/reset", {"seed": seed})

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()


@dataclasses.dataclass
class RunningEmulator:
    """A started emulator: where it listens, its key, and a control client."""

    url: str
    port: int
    api_key: str
    client: EmulatorClient
    config: EmulatorConfig
    state: EmulatorState
    cert_path: str | None = None

    @property
    def api_url(self) -> str:
        """Return the ``/v1`` base URL."""
        return self.url + "/v1"

    def connection_json(self, **extra: Any) -> str:
        """Return the ``AIRFLOW_CONN_<ID>`` value (JSON form) of a ``smartlyq`` connection."""
        return json.dumps(
            {"conn_type": "smartlyq", "host": self.url, "password": self.api_key, "extra": extra}
        )

    def connection(self, conn_id: str = "smartlyq_default", **extra: Any) -> Any:
        """Return an ``airflow.sdk.Connection`` for the emulator (imports Airflow)."""
        from airflow.sdk import Connection

        return Connection(
            conn_id=conn_id,
            conn_type="smartlyq",
            host=self.url,
            password=self.api_key,
            extra=json.dumps(extra) if extra else None,
        )

    def connection_uri(self, **extra: Any) -> str:
        """Return the connection in Airflow's URI form (round-trips through ``Connection.from_uri``)."""
        uri: str = self.connection(**extra).get_uri()
        return uri

    def env(self, conn_id: str = "smartlyq_default", **extra: Any) -> dict[str, str]:
        """Return ``{"AIRFLOW_CONN_<ID>": <json>}`` for ``monkeypatch``/``subprocess`` environments."""
        return {f"AIRFLOW_CONN_{conn_id.upper()}": self.connection_json(**extra)}


@contextlib.contextmanager
def run_emulator(
    *,
    port: int = 0,
    seed: str = "demo",
    api_key: str = DEFAULT_API_KEY,
    auto_approve_after: float | None = None,
    tls: bool = False,
    host: str = "127.0.0.1",
    startup_timeout: float = 15.0,
    **config: Any,
) -> Iterator[RunningEmulator]:
    """
    Start the emulator on a daemon thread; yield it once it answers; stop it on exit.

    :param port: TCP port, ``0`` for a free one.
    :param host: Bind address; anything but loopback needs ``control_token`` (else ``ValueError``).
    :param config: Further :class:`~airflow_provider_smartlyq.emulator.config.EmulatorConfig`
        fields (``read_only_key``, ``control_token``, ``rate_limit``, ``rate_window``,
        ``rate_limit_scope``, ``connect_ttl``,
        ``unconfigured_platforms``, ``headless_connect_enabled``...).
    """
    from airflow_provider_smartlyq.emulator.app import create_app
    from airflow_provider_smartlyq.emulator.cli import bound_port, build_server, root_url
    from airflow_provider_smartlyq.emulator.config import EmulatorConfig, check_exposure
    from airflow_provider_smartlyq.emulator.state import EmulatorState

    check_exposure(host, config.get("control_token"))  # ValueError: a network address needs a token
    emulator_config = EmulatorConfig(
        api_key=api_key, seed=seed, auto_approve_after=auto_approve_after, **config
    )
    state = EmulatorState(emulator_config)
    with tempfile.TemporaryDirectory(prefix="smartlyq-emulator-") as tmp:
        cert = key = None
        if tls:
            from airflow_provider_smartlyq.emulator.tls import generate_self_signed

            cert_path, key_path = generate_self_signed(tmp)
            cert, key = str(cert_path), str(key_path)
        server = build_server(create_app(state=state), host=host, port=port, certfile=cert, keyfile=key)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                server.run()
            except BaseException as exc:  # SystemExit from a failed bind included
                errors.append(exc)

        thread = threading.Thread(target=run, name="smartlyq-emulator", daemon=True)
        thread.start()
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if errors or not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError(f"SmartlyQ emulator did not start: {errors[0] if errors else 'timeout'}")
            time.sleep(0.01)
        url = root_url(host, bound_port(server), tls)
        client = EmulatorClient(url, emulator_config.control_token, verify=cert or True)
        try:
            yield RunningEmulator(url, bound_port(server), api_key, client, emulator_config, state, cert)
        finally:
            client.close()
            server.should_exit = True
            thread.join(timeout=0.5)
            if thread.is_alive():
                # Idle keep-alive sockets still held by test clients (TLS waits for their
                # close_notify) must not cost the full graceful-shutdown timeout.
                server.force_exit = True
                thread.join(timeout=10)
