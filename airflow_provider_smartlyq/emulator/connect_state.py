"""Headless connect sessions: the connect section of :class:`~.state.EmulatorState`."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq.emulator.config import MULTI_TARGET_PLATFORMS, EmulatorConfig
from airflow_provider_smartlyq.emulator.models import (
    WRITE_CONTEXT,
    Account,
    ApiError,
    ConnectSession,
    expiry_for_days,
    iso,
    platform_label,
)

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable


class ConnectSessionsMixin:
    """Connect and reconnect links, consent, expiry and auto-approval."""

    # Provided by EmulatorState.
    config: EmulatorConfig
    clock: Callable[[], dt.datetime]
    lock: threading.RLock
    accounts: dict[int, Account]
    sessions: dict[str, ConnectSession]
    _next_id: int

    if TYPE_CHECKING:

        def record_write(self, action: str, **fields: Any) -> dict[str, Any]: ...
        def get_account(self, account_id: int, profile_id: int | None) -> Account: ...
        def _new_account(
            self, *, platform: str, name: str, username: str | None = None, profile_id: int | None = None
        ) -> Account: ...

    def create_session(
        self,
        platform: str,
        profile_id: int | None,
        return_url: str | None = None,
        reconnect_account_id: int | None = None,
    ) -> ConnectSession:
        """Open a connect (or reconnect) session with a fresh random state token."""
        with self.lock:
            now = self.clock()
            session = ConnectSession(
                state_token=secrets.token_urlsafe(24),
                platform=platform,
                profile_id=profile_id,
                return_url=return_url,
                created_at=now,
                expires_at=now + dt.timedelta(seconds=self.config.connect_ttl),
                reconnect_account_id=reconnect_account_id,
            )
            self.sessions[session.state_token] = session
            action = "reconnect_link_created" if reconnect_account_id else "connect_link_created"
            self.record_write(
                action, state_token=session.state_token, platform=platform, account_id=reconnect_account_id
            )
            return session

    def reconnect_session(self, account_id: int, profile_id: int | None) -> ConnectSession:
        """Return the pending reconnect session of an account, opening one when there is none."""
        with self.lock:
            account = self.get_account(account_id, profile_id)
            self.tick()
            for session in self.sessions.values():
                if session.reconnect_account_id == account.id and session.status == "pending":
                    return session
            return self.create_session(account.platform, profile_id, reconnect_account_id=account.id)

    def get_session(self, state_token: str) -> ConnectSession:
        """Return a session (status brought up to date) or raise ``404 RESOURCE_NOT_FOUND``."""
        with self.lock:
            session = self.sessions.get(state_token)
            if session is None:
                raise ApiError(404, "RESOURCE_NOT_FOUND", "Connect session not found.", {})
            self._refresh(session)
            return session

    def session_answer(self, session: ConnectSession) -> dict[str, Any]:
        """Render ``GET /social/connect/{state_token}``'s data."""
        with self.lock:
            first = self.accounts.get(session.account_ids[0]) if session.account_ids else None
            return {
                "platform": session.platform,
                "status": session.status,
                "expires_at": iso(session.expires_at),
                "account": first.to_connected() if first and session.status == "connected" else None,
            }

    def approve_session(
        self, state_token: str, name: str | None = None, username: str | None = None
    ) -> list[Account]:
        """Give consent: connect the account(s), or refresh the reconnected account's token."""
        with self.lock:
            session = self.get_session(state_token)
            if session.status != "pending":
                raise ApiError(
                    409, "CONFLICT", f"Connect session is {session.status}.", {"status": session.status}
                )
            return self._approve(session, name, username)

    def _approve(self, session: ConnectSession, name: str | None, username: str | None) -> list[Account]:
        now = self.clock()
        session.status = "connected"
        session.approved_at = now
        if session.reconnect_account_id is not None:
            account = self.accounts.get(session.reconnect_account_id)
            if account is None:
                session.status = "expired"
                raise ApiError(404, "RESOURCE_NOT_FOUND", "The account to reconnect no longer exists.", {})
            account.token_expires_at = expiry_for_days(now, self.config.token_validity_days)
            account.status = "connected"
            session.account_ids = [account.id]
            self.record_write("account_reconnected", account_id=account.id, state_token=session.state_token)
            return [account]
        count = 2 if session.platform in MULTI_TARGET_PLATFORMS else 1
        base = name or f"Emulated {platform_label(session.platform)}"
        created = []
        for index in range(count):
            suffix = f" {index + 1}" if count > 1 else ""
            account = self._new_account(
                platform=session.platform,
                name=base + suffix,
                username=(username or f"emu_{session.platform}_{self._next_id}") + suffix.replace(" ", "_"),
                profile_id=session.profile_id,
            )
            session.account_ids.append(account.id)
            self.record_write(
                "account_connected",
                account_id=account.id,
                platform=account.platform,
                state_token=session.state_token,
            )
            created.append(account)
        return created

    def latest_pending_token(self, platform: str | None = None) -> str:
        """
        Return the state token of the most recently created pending link (optionally of ``platform``).

        Lets a human (or a demo) approve "the link the DAG just made" without digging its token
        out of the write log. Dicts keep insertion order, so the last pending one is the newest.

        :raises ApiError: ``404 RESOURCE_NOT_FOUND`` when no link is pending.
        """
        with self.lock:
            self.tick()
            for session in reversed(list(self.sessions.values())):
                if session.status == "pending" and platform in (None, session.platform):
                    return session.state_token
            where = f" for {platform}" if platform else ""
            raise ApiError(404, "RESOURCE_NOT_FOUND", f"No pending connect link{where}.", {})

    def expire_session(self, state_token: str) -> ConnectSession:
        """Expire a pending session now (control API)."""
        with self.lock:
            session = self.get_session(state_token)
            if session.status == "pending":
                session.status = "expired"
                session.expires_at = min(session.expires_at, self.clock())
                self.record_write("connect_expired", state_token=state_token, platform=session.platform)
            return session

    def _refresh(self, session: ConnectSession) -> None:
        # Lazy evaluation of time: auto-approval first (if due before the link expired).
        if session.status != "pending":
            return
        now = self.clock()
        delay = self.config.auto_approve_after
        if delay is not None:
            due = session.created_at + dt.timedelta(seconds=delay)
            if now >= due and due < session.expires_at:
                token = WRITE_CONTEXT.set({"source": "auto"})
                try:
                    self._approve(session, None, None)
                except ApiError:
                    pass  # the account to reconnect vanished; the session is expired then
                finally:
                    WRITE_CONTEXT.reset(token)
                return
        if now >= session.expires_at:
            session.status = "expired"

    def tick(self) -> None:
        """Bring every pending session up to date (called by a background task)."""
        with self.lock:
            for session in list(self.sessions.values()):
                self._refresh(session)
