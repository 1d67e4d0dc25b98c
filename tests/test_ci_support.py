"""No silent skips under CI: a test whose input is missing fails there, and skips only locally."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from airflow_cli_support import REPO
from ci_support import skip_or_fail, under_ci

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", False), ("0", False), ("false", False), ("No", False), ("true", True), ("1", True), ("yes", True)],
)
def test_under_ci_reads_the_ci_variable(monkeypatch, value, expected):
    monkeypatch.setenv("CI", value)
    assert under_ci() is expected


def test_missing_input_skips_locally_and_fails_under_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no widget"):
        skip_or_fail("no widget")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"no widget .*CI is set"):
        skip_or_fail("no widget")


def run_pytest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run pytest on this repository's tests in a subprocess with ``env`` on top of ours."""
    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-x", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def assert_outcome(result: subprocess.CompletedProcess[str], ci: str) -> None:
    """Under CI the run fails, saying so; locally it passes with the test skipped."""
    if ci:
        assert result.returncode == 1, result.stdout[-3000:]
        assert "CI is set: a missing input fails the run" in result.stdout
    else:
        assert result.returncode == 0, result.stdout[-3000:]
        assert "1 skipped" in result.stdout


@pytest.mark.parametrize("ci", ["true", ""])
def test_a_missing_openapi_document_fails_under_ci(tmp_path, ci):
    missing = str(tmp_path / "no-openapi.json")
    result = run_pytest(
        "tests/emulator/test_emulator_openapi.py::test_every_shared_operation_validates",
        CI=ci,
        SMARTLYQ_OPENAPI=missing,
    )
    assert_outcome(result, ci)
    assert f"SmartlyQ OpenAPI document not found at {missing}" in result.stdout


@pytest.mark.parametrize("ci", ["true", ""])
def test_a_missing_chromium_fails_under_ci(tmp_path, ci):
    # PATH without chromium (only the directory of this Python): the check runs before any server starts.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    assert shutil.which("chromium", path=str(bin_dir)) is None
    result = run_pytest("-rs", "tests/integration/test_connection_form_browser.py", CI=ci, PATH=str(bin_dir))
    assert_outcome(result, ci)
    assert "no `chromium` on PATH" in result.stdout


def fake_bin(tmp_path: Path, apt_status: int) -> Path:
    """Return a PATH directory: real core tools, no chromium or redis, root, and a fake apt-get and make."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "mktemp", "tail", "rm", "timeout", "cat"):
        real = shutil.which(tool)
        assert real is not None, tool
        (bin_dir / tool).symlink_to(real)
    fakes = {
        "id": "echo 0",  # root: no sudo needed
        "apt-get": f"echo 'E: fake apt-get ({apt_status})' >&2; exit {apt_status}",
        "make": "echo MAKE RAN",  # stands for `make test`
    }
    for name, body in fakes.items():
        (bin_dir / name).write_text(f"#!{shutil.which('bash')}\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("ci", ["true", "false"])
def test_ci_run_stops_when_apt_cannot_install_what_the_tests_need(tmp_path, ci):
    bin_dir = fake_bin(tmp_path, apt_status=100)
    result = subprocess.run(
        [str(bin_dir / "bash"), str(REPO / ".ci" / "run")],
        env={"PATH": str(bin_dir), "CI": ci, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Installing Debian packages:" in result.stdout
    assert "chromium" in result.stdout  # missing on this PATH, so asked for
    if ci == "true":
        assert result.returncode == 1, result.stdout + result.stderr
        assert "ERROR: apt-get failed (offline?) under CI; the tests need:" in result.stderr
        assert "MAKE RAN" not in result.stdout
    else:
        assert result.returncode == 0, result.stdout + result.stderr
        assert "NOTE: apt-get failed (offline?); continuing without:" in result.stdout
        assert "MAKE RAN" in result.stdout


def test_ci_run_stops_under_ci_without_apt_get(tmp_path):
    bin_dir = fake_bin(tmp_path, apt_status=0)
    (bin_dir / "apt-get").unlink()
    result = subprocess.run(
        [str(bin_dir / "bash"), str(REPO / ".ci" / "run")],
        env={"PATH": str(bin_dir), "CI": "1", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ERROR: apt-get not found under CI" in result.stderr
