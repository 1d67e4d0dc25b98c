"""The harness's PostgreSQL and Redis servers: they start, answer, stop and leave nothing behind."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

import pytest
import stack_services
from ci_support import skip_or_fail
from stack_services import ServiceUnavailable, run_postgres, run_redis

if TYPE_CHECKING:
    from pathlib import Path


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_postgres_and_redis_start_on_loopback_and_leave_nothing_behind(tmp_path: Path) -> None:
    try:
        with run_postgres(tmp_path) as postgres, run_redis(tmp_path) as redis:
            import psycopg2

            conn = psycopg2.connect(host="127.0.0.1", port=postgres.port, user="airflow", dbname="airflow")
            try:
                with conn.cursor() as cursor:
                    cursor.execute("SELECT current_user, inet_server_addr()::text")
                    assert cursor.fetchone() == ("airflow", "127.0.0.1/32")
            finally:
                conn.close()
            # Under root the server runs as an unprivileged user: PostgreSQL refuses root.
            owner = postgres.data_dir.stat().st_uid
            assert owner != 0 if os.geteuid() == 0 else owner == os.geteuid()
            with socket.create_connection(("127.0.0.1", redis.port), timeout=5) as sock:
                sock.sendall(b"PING\r\n")
                assert sock.recv(16) == b"+PONG\r\n"
            ports, data_dir = (postgres.port, redis.port), postgres.data_dir
    except ServiceUnavailable as exc:
        skip_or_fail(str(exc))
    assert not any(listening(port) for port in ports)
    assert not data_dir.exists()
    assert "ready to accept connections" in (tmp_path / "postgres.log").read_text()


def test_missing_server_is_a_skip_locally_and_a_failure_under_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack_services, "POSTGRES_BIN_GLOB", str(tmp_path / "none" / "*" / "bin"))
    monkeypatch.setattr(stack_services.shutil, "which", lambda _name: None)
    with pytest.raises(ServiceUnavailable, match="install the Debian package postgresql") as missing:
        stack_services.postgres_bin_dir()
    with pytest.raises(ServiceUnavailable, match="install the Debian package redis-server"):
        run_redis(tmp_path).__enter__()

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        skip_or_fail(str(missing.value))
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="postgresql"):
        skip_or_fail(str(missing.value))
