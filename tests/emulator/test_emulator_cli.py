"""The ``smartlyq-emulator`` command line, run as a real subprocess."""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from ci_support import skip_or_fail

from airflow_provider_smartlyq.emulator.config import DEFAULT_API_KEY, mask_key

READY = re.compile(
    r"^SmartlyQ emulator listening on (?P<url>https?://127\.0\.0\.1:(?P<port>\d+)) "
    r"\(api key: (?P<key>[^)]*)\)(?: cert: (?P<cert>\S+))?$"
)


def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], re.Match[str]]:
    """Start the emulator CLI and return it with its parsed ready line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_smartlyq.emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if selector.select(timeout=0.5):
            line = process.stdout.readline()
            match = READY.match(line.strip())
            if match:
                return process, match
            if not line:
                break
    process.kill()
    raise AssertionError(f"no ready line; stderr: {process.communicate()[1]}")


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_cli_port_zero_ready_line_and_me():
    process, ready = start("--seed", "empty")
    try:
        assert int(ready["port"]) > 0
        assert ready["key"] == mask_key(DEFAULT_API_KEY) == "sqk_test_…"
        headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        with requests.get(ready["url"] + "/v1/me", headers=headers, timeout=10) as response:
            assert response.status_code == 200
            assert response.json()["success"] is True
        with requests.get(ready["url"] + "/v1/social/accounts", headers=headers, timeout=10) as response:
            assert response.json()["data"] == []
    finally:
        stop(process)
    assert process.stderr is not None
    assert DEFAULT_API_KEY not in process.stderr.read()


def test_cli_api_key_from_environment_is_masked():
    key = "sqk_test_from_env_abcdefghijkl"
    process, ready = start(env={"SMARTLYQ_EMULATOR_API_KEY": key})
    try:
        assert ready["key"] == mask_key(key) == "sqk_test_f…"  # a third of the key at most
        assert key not in ready.group(0)
        headers = {"Authorization": f"Bearer {key}"}
        with requests.get(ready["url"] + "/v1/social/accounts", headers=headers, timeout=10) as response:
            assert len(response.json()["data"]) == 8
    finally:
        stop(process)


def test_cli_refuses_non_loopback_host_without_control_token():
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_smartlyq.emulator", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--control-token" in result.stderr
    assert "0.0.0.0" in result.stderr
    assert result.stdout == ""


def test_cli_tls_serves_https_verifiable_with_printed_cert():
    process, ready = start("--tls", "--auto-approve-after", "0.1")
    try:
        assert ready["url"].startswith("https://")
        assert ready["cert"]
        cert = ready["cert"]
        assert Path(cert).is_file()
        headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        with requests.get(ready["url"] + "/v1/me", headers=headers, verify=cert, timeout=10) as response:
            assert response.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(ready["url"] + "/v1/me", headers=headers, timeout=10)
    finally:
        stop(process)


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("smartlyq-emulator")
    if not script.exists():
        skip_or_fail("package not pip-installed; console script absent (make test installs it)")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "--auto-approve-after" in result.stdout


def test_the_second_line_is_a_ready_to_paste_connection_export():
    import json

    process, ready = start("--seed", "demo")
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        prefix = "export AIRFLOW_CONN_SMARTLYQ_DEFAULT='"
        assert line.startswith(prefix)
        assert line.endswith("'")
        conn = json.loads(line[len(prefix) : -1])
        assert conn == {"conn_type": "smartlyq", "host": ready["url"], "password": DEFAULT_API_KEY}
        # The pasted connection works: the key is accepted.
        answer = requests.get(
            f"{ready['url']}/v1/me", headers={"Authorization": f"Bearer {conn['password']}"}, timeout=10
        )
        assert answer.status_code == 200
    finally:
        stop(process)


def test_a_custom_key_is_not_printed_whole():
    secret = "sqk_test_custom_key_do_not_print_1234"
    process, _ = start("--seed", "empty", "--api-key", secret)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("export AIRFLOW_CONN_SMARTLYQ_DEFAULT=")
        assert secret not in line
        assert "<the key given with --api-key>" in line
    finally:
        stop(process)


def test_cli_rate_limit_window_and_scope_flags():
    process, ready = start("--rate-limit", "7", "--rate-window", "20", "--rate-limit-scope", "workspace")
    try:
        headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        with requests.get(ready["url"] + "/v1/me", headers=headers, timeout=10) as response:
            assert response.headers["X-RateLimit-Limit"] == "7"
            assert int(response.headers["X-RateLimit-Reset"]) % 20 == 0
        with requests.get(ready["url"] + "/_emulator/rate-limit", timeout=10) as response:
            report = response.json()["data"]
        assert (report["limit"], report["window_seconds"], report["scope"]) == (7, 20.0, "workspace")
        assert report["windows"][0]["budget"] == "workspace"
    finally:
        stop(process)
