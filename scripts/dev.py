#!/usr/bin/env python3
"""
Run the project's commands, creating or reusing the local virtualenv ``.venv`` first.

``make demo`` and ``make test`` call this script; without ``make``, run it directly::

    python3 scripts/dev.py demo    # emulator + example DAGs under `airflow dags test`, then a summary
    python3 scripts/dev.py test    # what CI runs: ruff, ruff format --check, mypy, import-linter,
                                   # mkdocs --strict + role check, pytest on the newest Airflow,
                                   # packaging check (build, twine check, wheel in a fresh venv),
                                   # then the version matrix (Airflow 3.1, 3.2, 3.3; matrix.py)
    python3 scripts/dev.py test-main  # the same less the version matrix
    python3 scripts/dev.py matrix  # the version matrix only (lane names narrow it)

Only the standard library is used here, so any Python >= 3.10 with ``venv`` and ``pip`` can run
it on a fresh machine. The virtualenv is (re)installed with ``pip install -e '.[dev,docs]'``
only when ``pyproject.toml`` changed since the last install (its hash is kept in a stamp file).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROLE_CHECK = REPO / "scripts" / "check_docs_roles.py"
VENV = REPO / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".smartlyq-install-stamp"
EXTRAS = "dev,docs"
MIN_PYTHON = (3, 10)
# Silence Material for MkDocs' end-of-life banner: it is not a problem of this project's docs.
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}


def say(message: str) -> None:
    """Print a progress line (flushed: CI logs interleave it with the tools' output)."""
    print(f"==> {message}", flush=True)


def venv_python() -> Path:
    """Return the virtualenv's interpreter."""
    return BIN / ("python.exe" if os.name == "nt" else "python")


def install_fingerprint() -> str:
    """Return what the stamp records: the hash of pyproject.toml and the extras installed."""
    digest = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    return f"{digest} [{EXTRAS}]\n"


def create_venv_without_ensurepip() -> None:
    """
    Create ``.venv`` without ``ensurepip`` and put pip into it with this Python's own pip.

    Debian and Ubuntu ship ``venv`` without ``ensurepip`` unless ``python3-venv`` is installed,
    so plain ``python3 -m venv`` fails on a machine that has only Python and pip.
    """
    shutil.rmtree(VENV, ignore_errors=True)
    say("venv could not install pip (no ensurepip); bootstrapping pip into .venv with this Python's pip")
    python = str(venv_python())
    created = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(VENV)], check=False)
    # pip >= 22.3 can install into another interpreter's environment with --python.
    bootstrap = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "pip"]
    if created.returncode or subprocess.run(bootstrap, check=False).returncode:
        shutil.rmtree(VENV, ignore_errors=True)
        sys.exit(
            "Could not create the virtualenv .venv with pip in it: install python3-venv "
            "(Debian/Ubuntu) or upgrade pip (>= 22.3), then run this again."
        )


def ensure_venv(*, force: bool = False) -> None:
    """Create ``.venv`` if needed and install the project into it when pyproject.toml changed."""
    if sys.version_info < MIN_PYTHON:
        sys.exit(f"Python >= {'.'.join(map(str, MIN_PYTHON))} is needed, this is {sys.version.split()[0]}")
    python = venv_python()
    if not python.exists():
        say(f"Creating virtualenv {VENV.relative_to(REPO)} with {sys.executable}")
        if VENV.exists():  # a half-made or foreign venv: start over
            shutil.rmtree(VENV)
        if subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=False).returncode:
            create_venv_without_ensurepip()
        force = True
    fingerprint = install_fingerprint()
    if not force and STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    started = time.monotonic()
    say(f"Installing the provider with extras [{EXTRAS}] into .venv (about a minute the first time)")
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True, cwd=REPO)
    subprocess.run([*pip, "install", "--editable", f".[{EXTRAS}]"], check=True, cwd=REPO)
    STAMP.write_text(fingerprint)
    say(f"Virtualenv ready in {time.monotonic() - started:.0f}s")


def tool(name: str) -> str:
    """Return the path of a console script installed in the virtualenv."""
    return str(BIN / name)


def checks(pytest_args: list[str], site_dir: str) -> list[tuple[str, list[str]]]:
    """Return the test command's steps, in order: lint, format, types, docs, tests, packaging."""
    return [
        # No cache directories in the checkout (ruff's, pytest's): a clean clone stays clean.
        ("ruff check", [tool("ruff"), "check", "--no-cache", "."]),
        ("ruff format --check", [tool("ruff"), "format", "--check", "--no-cache", "."]),
        ("mypy", [tool("mypy")]),  # the package, from [tool.mypy] in pyproject.toml
        # The layers and the no-cycles rule, from [tool.importlinter] in pyproject.toml.
        ("import-linter contracts", [tool("lint-imports"), "--no-cache"]),
        ("mkdocs build --strict", [tool("mkdocs"), "build", "--strict", "--site-dir", site_dir]),
        # Sphinx roles (:class:`x`) must have become links, not raw text, in the built pages.
        ("mkdocs raw-role check", [str(venv_python()), str(ROLE_CHECK), site_dir]),
        *pytest_steps(pytest_args),
        # sdist + wheel, twine check, the wheel alone in a fresh venv: imports, `airflow providers list`.
        ("package check", [str(venv_python()), str(REPO / "scripts" / "package_check.py")]),
        # Airflow 3.1, 3.2 and 3.3 each on its own Python: unit tests and example DAGs (matrix.py).
        ("version matrix", [str(venv_python()), str(REPO / "scripts" / "matrix.py")]),
    ]


def pytest_steps(pytest_args: list[str]) -> list[tuple[str, list[str]]]:
    """
    Return the main lane's pytest runs: everything in tests/ on the newest Airflow.

    Arguments run pytest once with just them. Without, the tests that start no Airflow service
    run on every core (pytest-xdist: CI's time is capped, and the version matrix runs after
    this), then those marked ``integration``/``distributed`` run one at a time: each starts a
    scheduler, triggerers or a whole Celery stack, and two at once would compete for the cores
    their timeouts assume.
    """
    pytest = [tool("pytest"), "-p", "no:cacheprovider"]
    if pytest_args:
        return [("pytest", [*pytest, *pytest_args])]
    workers = str(min(os.cpu_count() or 2, 4))
    return [
        # Whole files per worker: the example-DAG tests share one Airflow database per module.
        (
            "pytest (in parallel)",
            [*pytest, "-n", workers, "--dist", "loadfile", "-m", "not integration and not distributed"],
        ),
        ("pytest integration", [*pytest, "-m", "integration or distributed"]),
    ]


def main_lane_banner() -> None:
    """Say what the main lane runs on (each version-matrix lane says the same of itself)."""
    probe = "import sys, airflow; print(sys.version.split()[0], airflow.__version__)"
    found = subprocess.run(
        [str(venv_python()), "-c", probe],
        capture_output=True,
        text=True,
        check=False,
        env={**ENV, "PYTHONWARNINGS": "ignore"},
    ).stdout.split()
    python, airflow = found[-2:] if len(found) >= 2 else ("?", "?")
    say(f"main lane: Airflow {airflow} on Python {python} (everything; the version matrix follows)")


def run_checks(
    names: set[str] | None,
    pytest_args: list[str],
    keep_site: Path | None = None,
    skip: frozenset[str] = frozenset(),
) -> int:
    """
    Run every step (or those named, less those in ``skip``), even after a failure; print a
    summary; return 0 or 1. Steps are named by their first word.

    The docs are built into a temporary folder, or into ``keep_site`` when given (``make docs``).
    """
    results: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory(prefix="smartlyq-site-") as tmp:
        site_dir = str(keep_site or tmp)
        for name, command in checks(pytest_args, site_dir):
            if (names is not None and name.split()[0] not in names) or name.split()[0] in skip:
                continue
            say(name)
            started = time.monotonic()
            # Any non-zero exit is a failure, pytest's 5 ("no tests collected") included.
            code = subprocess.run(command, cwd=REPO, env=ENV, check=False).returncode
            results.append((name, code, time.monotonic() - started))
    print(flush=True)
    say("Summary")
    for name, code, seconds in results:
        print(f"    {'ok  ' if code == 0 else 'FAIL'}  {name:<24} {seconds:7.1f}s  (exit {code})")
    failed = [name for name, code, _ in results if code != 0]
    if failed:
        say(f"FAILED: {', '.join(failed)}")
        return 1
    say("All checks passed")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="scripts/dev.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("venv", help="create or update .venv only").add_argument(
        "--force", action="store_true", help="reinstall even if pyproject.toml did not change"
    )
    sub.add_parser("demo", help="run the demo against the emulator (extra arguments go to scripts/demo.py)")
    sub.add_parser(
        "test", help="lint, types, docs build and tests, what CI runs (extra arguments go to pytest)"
    )
    sub.add_parser("test-main", help="what test runs, less the version matrix (extra arguments go to pytest)")
    sub.add_parser(
        "matrix", help="the version matrix: unit tests and example DAGs per supported Airflow (lane names)"
    )
    sub.add_parser("package", help="the packaging check only (build, twine check, install the wheel)")
    sub.add_parser("lint", help="ruff check, ruff format --check, mypy and the import-linter contracts only")
    sub.add_parser("docs", help="mkdocs build --strict into site/, plus the raw-role check")
    sub.add_parser("format", help="apply ruff's fixes and formatting")
    sub.add_parser("serve-docs", help="serve the docs with live reload on http://127.0.0.1:8000")
    argv = sys.argv[1:] if argv is None else argv
    # Everything after the command name belongs to demo.py/pytest/matrix.py, options included.
    passthrough: list[str] = []
    if argv and argv[0] in ("demo", "test", "test-main", "matrix"):
        argv, passthrough = argv[:1], [arg for arg in argv[1:] if arg != "--"]
    args = parser.parse_args(argv)

    ensure_venv(force=getattr(args, "force", False))
    if args.command == "venv":
        return 0
    if args.command == "demo":
        return subprocess.run(
            [str(venv_python()), str(REPO / "scripts" / "demo.py"), *passthrough]
        ).returncode
    if args.command in ("test", "test-main"):
        main_lane_banner()
    if args.command == "test":
        if passthrough:
            say("pytest arguments given: the version matrix is left out (make test-matrix runs it)")
            return run_checks(None, passthrough, skip=frozenset({"version"}))
        return run_checks(None, passthrough)
    if args.command == "test-main":
        return run_checks(None, passthrough, skip=frozenset({"version"}))
    if args.command == "matrix":
        return subprocess.run(
            [str(venv_python()), str(REPO / "scripts" / "matrix.py"), *passthrough], env=ENV
        ).returncode
    if args.command == "package":
        return run_checks({"package"}, [])
    if args.command == "lint":
        return run_checks({"ruff", "mypy", "import-linter"}, [])
    if args.command == "docs":
        site = REPO / "site"
        code = run_checks({"mkdocs"}, [], keep_site=site)
        if code == 0:
            say(f"The site is in {site}: open {site / 'index.html'} (or run make serve-docs)")
        return code
    if args.command == "format":
        subprocess.run([tool("ruff"), "check", "--fix", "."], cwd=REPO, check=False)
        return subprocess.run([tool("ruff"), "format", "."], cwd=REPO, check=False).returncode
    return subprocess.run([tool("mkdocs"), "serve"], cwd=REPO, env=ENV, check=False).returncode


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except subprocess.CalledProcessError as exc:
        sys.exit(f"Command failed (exit {exc.returncode}): {' '.join(map(str, exc.cmd))}")
