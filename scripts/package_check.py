#!/usr/bin/env python3
"""
Check the package as a user gets it: build, ``twine check``, install the wheel into a fresh venv.

``make test`` runs this (step "package"), with the project's ``.venv`` interpreter:

1. ``python -m build`` makes the sdist and the wheel in a temporary directory;
2. ``twine check --strict`` validates both (metadata, README rendering);
3. the wheel's and sdist's file lists are checked (the wheel ships the package and ``py.typed``
   and no tests; the sdist carries what ``make test`` needs);
4. ``uv`` creates a fresh venv (nothing of the checkout on its path) and installs the wheel
   with its ``emulator`` extra from the package index, as ``pip install`` would;
5. there, every public module and every public name is imported, and ``airflow providers list``
   under a temporary ``AIRFLOW_HOME`` must list this provider at this version.

Exits non-zero, saying which step failed, when anything is wrong.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "airflow_provider_smartlyq"
DIST_NAME = "airflow-provider-smartlyq"

#: Modules a user imports; the lazy ones also have every name in ``__all__`` resolved.
PUBLIC_MODULES = (
    "airflow_provider_smartlyq",
    "airflow_provider_smartlyq.hooks.smartlyq",
    "airflow_provider_smartlyq.operators.smartlyq",
    "airflow_provider_smartlyq.sensors.smartlyq",
    "airflow_provider_smartlyq.triggers.smartlyq",
    "airflow_provider_smartlyq.exceptions",
    "airflow_provider_smartlyq.links",
    "airflow_provider_smartlyq.core.selector",
    "airflow_provider_smartlyq.webhooks",
    "airflow_provider_smartlyq.get_provider_info",
    "airflow_provider_smartlyq.emulator",  # needs the [emulator] extra
    "airflow_provider_smartlyq.testing.emulator",
)

_IMPORT_PROBE = """
import importlib, json, sys
names = 0
for module in sys.argv[1:]:
    mod = importlib.import_module(module)
    assert "site-packages" in (mod.__file__ or ""), f"{module} came from {mod.__file__}, not the wheel"
    for name in getattr(mod, "__all__", ()):
        getattr(mod, name)
        names += 1
import airflow, airflow_provider_smartlyq
print(json.dumps({"modules": len(sys.argv) - 1, "names": names, "airflow": airflow.__version__,
                  "version": airflow_provider_smartlyq.__version__}))
"""


def say(message: str) -> None:
    print(f"==> package: {message}", flush=True)


def run(*command: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command, echoing it; raise with its output on failure."""
    args = [str(c) for c in command]
    completed = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if completed.returncode:
        sys.stdout.write(completed.stdout[-4000:])
        sys.stderr.write(completed.stderr[-4000:])
        raise SystemExit(f"package check failed: {' '.join(args)} exited {completed.returncode}")
    return completed


def uv() -> str:
    """Return the uv executable (the dev extra installs it next to this interpreter)."""
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.exists() else shutil.which("uv")
    if not found:
        raise SystemExit("package check needs uv: install the dev extra (pip install -e '.[dev]')")
    return found


def check_contents(wheel: Path, sdist: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert f"{PACKAGE}/py.typed" in names, "the wheel lacks py.typed"
    assert f"{PACKAGE}/_compat.py" in names, "the wheel lacks the compat module"
    assert not [n for n in names if n.startswith(("tests/", "example_dags/"))], "tests in the wheel"
    [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Provides-Extra: emulator" in text, "the wheel's metadata lacks the emulator extra"
    assert "License-File: LICENSE" in text, "the wheel's metadata lacks the license file"
    with tarfile.open(sdist) as archive:
        members = {m.split("/", 1)[1] for m in archive.getnames() if "/" in m}
    for needed in ("pyproject.toml", "LICENSE", "README.md", "tests/conftest.py", ".ci/run", "Makefile"):
        assert needed in members, f"the sdist lacks {needed}"


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="smartlyq-package-") as tmp:
        work = Path(tmp)
        dist = work / "dist"
        say("python -m build (sdist and wheel)")
        run(sys.executable, "-m", "build", "--outdir", dist, REPO, cwd=work)
        [wheel] = dist.glob("*.whl")
        [sdist] = dist.glob("*.tar.gz")
        say(f"built {wheel.name} ({wheel.stat().st_size // 1024} KiB), {sdist.name}")
        say("twine check --strict")
        run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist)
        check_contents(wheel, sdist)

        venv = work / "fresh-venv"
        say(f"fresh venv, uv pip install {wheel.name}[emulator]")
        # The interpreter of this venv's base, not this venv: the fresh venv inherits nothing.
        base = getattr(sys, "_base_executable", sys.executable)
        run(uv(), "venv", "--quiet", "--python", base, venv)
        python = venv / "bin" / "python"
        run(uv(), "pip", "install", "--quiet", "--python", python, f"{wheel}[emulator]")

        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHONPATH"))}
        env.update(
            AIRFLOW_HOME=str(work / "airflow-home"),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            PYTHONWARNINGS="ignore",
        )
        probe = run(python, "-c", _IMPORT_PROBE, *PUBLIC_MODULES, cwd=work, env=env)
        imported = json.loads(probe.stdout.strip().splitlines()[-1])
        say(
            f"imported {imported['modules']} public modules and {imported['names']} public names "
            f"from the wheel (Airflow {imported['airflow']})"
        )

        listed = run(venv / "bin" / "airflow", "providers", "list", "-o", "json", cwd=work, env=env)
        rows = json.loads(listed.stdout[listed.stdout.index("[") :])
        ours = [r for r in rows if r.get("package_name") == DIST_NAME]
        if [r.get("version") for r in ours] != [imported["version"]]:
            raise SystemExit(f"package check failed: airflow providers list shows {ours!r}")
        say(f"airflow providers list shows {DIST_NAME} {ours[0]['version']}")
    say(f"ok in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
