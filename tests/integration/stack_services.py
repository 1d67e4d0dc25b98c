"""
PostgreSQL and Redis servers for the distributed-stack test, started and stopped by the harness.

Each runs from Debian's packages (``postgresql``, ``redis-server``; ``.ci/run`` installs them)
on a free loopback port, with its data in a new temporary directory that is removed afterwards.
Nothing listens beyond 127.0.0.1 and no Unix socket is created, so neither clashes with a
system-wide server or another test run.

PostgreSQL refuses to run as root, and CI runs as root: there both servers run as an
unprivileged user, ``postgres`` (Debian's package creates it) or else ``nobody``.

A server that cannot be had raises :class:`ServiceUnavailable` with the reason; the test turns
that into a skip locally and a failure under CI (``ci_support.skip_or_fail``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Where Debian's ``postgresql-<version>`` puts the server binaries (not on PATH).
POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"
SERVICE_USERS = ("postgres", "nobody")
STARTUP_TIMEOUT = 60.0


class ServiceUnavailable(RuntimeError):
    """A server needed by a test cannot be started here; the message says why and what to install."""


def free_port() -> int:
    """Return a TCP port free on loopback right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass(frozen=True)
class ServiceUser:
    """Who a server runs as: ``None`` ids mean "this process's own user" (not root)."""

    name: str
    uid: int | None = None
    gid: int | None = None

    def popen_kwargs(self) -> dict[str, Any]:
        """Return the ``subprocess`` arguments that drop to this user (none when not root)."""
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def own(self, path: Path) -> None:
        """Hand ``path`` to this user (a no-op when not root)."""
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)


def service_user() -> ServiceUser:
    """Return the user servers run as: this one, or an unprivileged one when this is root."""
    if os.geteuid() != 0:
        return ServiceUser(pwd.getpwuid(os.geteuid()).pw_name)
    for name in SERVICE_USERS:
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return ServiceUser(name, entry.pw_uid, entry.pw_gid)
    raise ServiceUnavailable(f"running as root and none of the users {SERVICE_USERS} exists to run servers")


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def postgres_bin_dir() -> Path:
    """Return the newest installed PostgreSQL's binary directory (Debian layout, else PATH)."""
    candidates = sorted(
        (p for p in Path("/").glob(POSTGRES_BIN_GLOB.lstrip("/")) if (p / "postgres").is_file()),
        key=_version_key,
    )
    if candidates:
        return candidates[-1]
    on_path = shutil.which("postgres")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    raise ServiceUnavailable(
        f"PostgreSQL server not found (no {POSTGRES_BIN_GLOB}/postgres, none on PATH): "
        "install the Debian package postgresql (.ci/run does)"
    )


def _wait_until(ready: Any, proc: subprocess.Popen[bytes], what: str, log_path: Path) -> None:
    """Poll ``ready()`` until true; raise with the server's log if it exits or takes too long."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            state = f"exited {proc.returncode}" if proc.poll() is not None else "did not answer in time"
            raise ServiceUnavailable(
                f"{what} {state}; its log:\n{log_path.read_text(errors='replace')[-3000:]}"
            )
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Send ``sig`` to a server's process group, then SIGKILL it if it has not exited in 20 s."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@contextlib.contextmanager
def _data_dir(prefix: str, user: ServiceUser) -> Iterator[Path]:
    # Not under pytest's tmp_path: that is root-only (0700) and the server user must reach it.
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        user.own(path)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclasses.dataclass
class Postgres:
    """A running PostgreSQL server with an ``airflow`` database (trust auth on loopback)."""

    port: int
    data_dir: Path
    log_path: Path
    user: str
    database: str = "airflow"

    @property
    def url(self) -> str:
        """Return the SQLAlchemy URL Airflow uses (psycopg2)."""
        return f"postgresql+psycopg2://airflow@127.0.0.1:{self.port}/{self.database}"

    @property
    def celery_result_backend(self) -> str:
        """Return the same database as a Celery result backend URL."""
        return f"db+postgresql://airflow@127.0.0.1:{self.port}/{self.database}"


@contextlib.contextmanager
def run_postgres(log_dir: Path) -> Iterator[Postgres]:
    """
    Start a throwaway PostgreSQL server; yield it; stop it and delete its data.

    Tuned for a test, not for durability: no fsync, no synchronous commit.

    :param log_dir: Where ``postgres.log`` goes (the stack's component logs, shown on failure).
    :raises ServiceUnavailable: not installed, no user to run it as, or it did not start.
    """
    import psycopg2

    bin_dir = postgres_bin_dir()
    user = service_user()
    log_path = log_dir / "postgres.log"
    with _data_dir("smartlyq-postgres-", user) as root, open(log_path, "ab") as log:
        data = root / "data"
        as_user = {**user.popen_kwargs(), "cwd": root, "stdout": log, "stderr": subprocess.STDOUT}
        init = subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8",
             "--locale=C", "--no-sync"],
            check=False, timeout=120, **as_user,
        )  # fmt: skip
        if init.returncode:
            raise ServiceUnavailable(
                f"initdb exited {init.returncode} (as {user.name}); log:\n{log_path.read_text()[-3000:]}"
            )
        port = free_port()
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            "unix_socket_directories": "",  # TCP on loopback only
            "max_connections": "300",  # every Airflow process keeps a pool
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        args = [str(bin_dir / "postgres"), "-D", str(data)]
        for name, value in settings.items():
            args += ["-c", f"{name}={value}"]
        proc = subprocess.Popen(args, start_new_session=True, stdin=subprocess.DEVNULL, **as_user)
        try:

            def accepts() -> bool:
                try:
                    psycopg2.connect(host="127.0.0.1", port=port, user="airflow", dbname="postgres").close()
                except psycopg2.OperationalError:
                    return False
                return True

            _wait_until(accepts, proc, f"PostgreSQL ({bin_dir})", log_path)
            conn = psycopg2.connect(host="127.0.0.1", port=port, user="airflow", dbname="postgres")
            try:
                conn.autocommit = True
                with conn.cursor() as cursor:
                    cursor.execute("CREATE DATABASE airflow")
            finally:
                conn.close()
            yield Postgres(port=port, data_dir=data, log_path=log_path, user=user.name)
        finally:
            _stop(proc, signal.SIGINT)  # "fast" shutdown: disconnect clients, stop now


@dataclasses.dataclass
class Redis:
    """A running Redis server (no persistence)."""

    port: int
    log_path: Path

    @property
    def url(self) -> str:
        """Return the broker URL."""
        return f"redis://127.0.0.1:{self.port}/0"


def _redis_pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def run_redis(log_dir: Path) -> Iterator[Redis]:
    """
    Start a throwaway Redis server on loopback; yield it; stop it and delete its directory.

    :param log_dir: Where ``redis.log`` goes.
    :raises ServiceUnavailable: not installed or it did not start.
    """
    binary = shutil.which("redis-server")
    if not binary:
        raise ServiceUnavailable("redis-server not found on PATH: install the Debian package redis-server")
    user = service_user()
    log_path = log_dir / "redis.log"
    with _data_dir("smartlyq-redis-", user) as root, open(log_path, "ab") as log:
        port = free_port()
        # No snapshots or append-only file: the broker's queue lives and dies with the test.
        settings = {
            "bind": "127.0.0.1", "port": str(port), "dir": str(root), "save": "", "appendonly": "no",
            "protected-mode": "yes", "daemonize": "no", "logfile": "",
        }  # fmt: skip
        args = [binary, *(part for name, value in settings.items() for part in (f"--{name}", value))]
        proc = subprocess.Popen(
            args,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=root,
            **user.popen_kwargs(),
        )
        try:
            _wait_until(lambda: _redis_pong(port), proc, f"Redis ({binary})", log_path)
            yield Redis(port=port, log_path=log_path)
        finally:
            _stop(proc, signal.SIGTERM)
