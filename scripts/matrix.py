#!/usr/bin/env python3
"""
The version matrix: the unit tests and the example DAGs on each supported Airflow release.

``make test-matrix`` (or ``python3 scripts/dev.py matrix``) runs this with the project's
``.venv`` interpreter after ``make test`` has covered everything on the newest Airflow. Each
lane (see :data:`LANES`):

1. finds its Python among the machine's interpreters (pyenv's versions, then ``pythonX.Y`` on
   ``PATH``). A missing interpreter is not a pass: the lane runs on this interpreter instead
   and says so in a banner and in the summary;
2. creates or reuses ``.lanes/<lane>`` with ``uv`` and installs the provider (editable, the
   ``test`` extra) with that exact Airflow release, everything resolved as of a few days after
   that release (``uv pip install --exclude-newer``; see :class:`Lane` for why);
3. prints its Python and Airflow versions, runs the unit tests (``tests/`` without
   ``tests/integration``, the tests marked ``integration`` and the example-DAG tests) with
   ``pytest-xdist`` on both cores, then the example DAGs, each through a real
   ``airflow dags test`` (``tests/test_example_dags*.py``);
4. prints its test counts and duration.

A summary table ends the run; the exit code is non-zero when any lane failed.

CI's time is capped, and a run cut off by the cap lands nothing at all. So when
``SMARTLYQ_MATRIX_DEADLINE`` (epoch seconds; ``.ci/run`` sets it) is reached, a lane not yet
started is not run and a running one is stopped; both are named in a banner and in the summary
as NOT RUN / CUT OFF, never as passed.
Arguments: lane names (``3.1``, ``3.2``, ``3.3``) to run only those; ``--list`` to show them;
``--dags-only`` to skip the unit tests (a quick check of a lane's install and its example DAGs).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LANES_DIR = REPO / ".lanes"


@dataclass(frozen=True)
class Lane:
    """One supported Airflow release on one Python, resolved as of its release."""

    name: str
    airflow: str  # the exact release installed (the newest patch of its minor when last updated)
    python: str  # major.minor
    #: The day this release reached PyPI (found with ``uv pip install --dry-run --exclude-newer``).
    released: str
    #: uv's ``--exclude-newer`` for the whole lane install: a few days after ``released``, so that
    #: the release's own follow-up patch dependencies are in, and nothing from later. Airflow pins
    #: its tested dependency set in a constraints file published on GitHub, not on PyPI; a lane
    #: installs from PyPI only, so without this date it would get whatever is newest today, which
    #: that Airflow never ran with (Airflow 3.2.2 with FastAPI 0.165 and Cadwyn 9 cannot finish a
    #: task: see docs/versions.md). Resolving as of the release gives the set its constraints
    #: described, reproducibly, without the file. The provider itself is a local editable install,
    #: so the date never hides our own code.
    exclude_newer: str
    #: Extra requirements pinned on top of the date because even then a plain install would break
    #: (each with why). None are needed today.
    pins: tuple[str, ...] = ()


#: The supported Airflow releases, each on one of the supported Pythons (3.10 to 3.13); the
#: README and docs/versions.md state exactly these. `make test` covers the newest Airflow on
#: the default Python with everything, the integration tests included. One date per lane covers
#: the provider's test extra too (pytest, pytest-xdist, hypothesis, schemathesis, jsonschema):
#: its floors are all older than the oldest lane's date, so no second resolution is needed.
LANES: tuple[Lane, ...] = (
    Lane("3.1", "3.1.8", "3.10", released="2026-03-11", exclude_newer="2026-03-16T00:00:00Z"),
    Lane("3.2", "3.2.2", "3.12", released="2026-05-29", exclude_newer="2026-06-03T00:00:00Z"),
    Lane("3.3", "3.3.2", "3.13", released="2026-09-17", exclude_newer="2026-09-22T00:00:00Z"),
)

#: The example DAGs run under `airflow dags test` by these test files.
EXAMPLE_DAG_TESTS = "tests/test_example_dags*.py"


@dataclass
class Counts:
    """Test counts of one pytest run (from its JUnit XML)."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    exit_code: int = 0
    ran: bool = True  # False: not asked for in this run (--dags-only), shown as such

    def __str__(self) -> str:
        if not self.ran:
            return "not run (--dags-only)"
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


@dataclass
class Result:
    """What one lane did."""

    lane: Lane
    python_found: str = ""
    fallback: bool = False
    python_version: str = "?"
    airflow_version: str = "?"
    unit: Counts = field(default_factory=Counts)
    dags: Counts = field(default_factory=Counts)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    error: str = ""
    cut_off: str = ""  # why the CI time budget stopped this lane, if it did

    @property
    def ok(self) -> bool:
        if self.cut_off:
            return True  # not a failure of the code: reported loudly instead (see summary)
        return not self.error and self.unit.exit_code == 0 and self.dags.exit_code == 0


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def banner(message: str) -> None:
    line = "!" * 100
    print(f"\n{line}\n!!! {message}\n{line}\n", flush=True)


def pyenv_roots() -> list[Path]:
    """Return the places pyenv keeps interpreters (CI runs as root; a developer as anyone)."""
    roots: list[Path] = []
    if os.environ.get("PYENV_ROOT"):
        roots.append(Path(os.environ["PYENV_ROOT"]))
    pyenv = shutil.which("pyenv")
    if pyenv:
        found = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        if found.returncode == 0 and found.stdout.strip():
            roots.append(Path(found.stdout.strip()))
    roots += [Path.home() / ".pyenv", Path("/root/.pyenv"), Path("/opt/pyenv"), Path("/usr/local/pyenv")]
    unique: list[Path] = []
    for root in roots:
        if root not in unique and (root / "versions").is_dir():
            unique.append(root)
    return unique


def _patch(path: str) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", path)
    return tuple(int(x) for x in match.groups()) if match else (0,)


def find_python(minor: str) -> str | None:
    """Return an interpreter of Python ``minor`` (e.g. "3.10"): pyenv's newest patch, else PATH's."""
    for root in pyenv_roots():
        candidates = sorted(glob.glob(str(root / "versions" / f"{minor}.*" / "bin" / "python")), key=_patch)
        candidates = [c for c in candidates if re.search(rf"/{re.escape(minor)}\.\d+/bin/python$", c)]
        if candidates:
            return candidates[-1]
    return shutil.which(f"python{minor}")


def default_python() -> str:
    """Return the interpreter this project's .venv was made from (the machine's default)."""
    return getattr(sys, "_base_executable", sys.executable)


def uv() -> str:
    """Return uv: the dev extra installs it beside this interpreter."""
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.exists() else shutil.which("uv")
    if not found:
        sys.exit("The matrix needs uv: run `python3 scripts/dev.py venv` (the dev extra installs it).")
    return found


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, text=True, check=False, **kwargs)  # type: ignore[call-overload]


def seconds_left() -> float | None:
    """Return the seconds until the CI time budget's deadline (None: no deadline set)."""
    deadline = os.environ.get("SMARTLYQ_MATRIX_DEADLINE")
    return float(deadline) - time.time() if deadline else None


class CutOff(Exception):
    """The CI time budget ran out while a lane was running."""


def prepare_venv(result: Result, venv: Path) -> Path | None:
    """Create (or reuse) the lane's venv with its Python and its Airflow; return its python."""
    lane = result.lane
    python = venv / "bin" / "python"
    cfg = venv / "pyvenv.cfg"
    wanted = os.path.realpath(result.python_found)
    if cfg.exists() and f"home = {os.path.dirname(wanted)}\n" not in cfg.read_text():
        shutil.rmtree(venv)  # made with another interpreter: start over
    # A reused venv keeps what it has whenever that satisfies the requirements, so a venv filled
    # under another date or other pins would silently keep its newer packages: start over.
    stamp = venv / "smartlyq-lane.txt"
    wanted_set = f"apache-airflow=={lane.airflow} exclude-newer={lane.exclude_newer} pins={list(lane.pins)}\n"
    if python.exists() and (not stamp.exists() or stamp.read_text() != wanted_set):
        say(f"lane {lane.name}: {venv} was filled for another resolution: recreating it")
        shutil.rmtree(venv)
    if not python.exists():
        made = run([uv(), "venv", "--quiet", "--python", result.python_found, str(venv)])
        if made.returncode:
            result.error = "could not create the venv"
            return None
    started = time.monotonic()
    requirements = [f"apache-airflow=={lane.airflow}", *lane.pins]
    say(
        f"lane {lane.name}: uv pip install --exclude-newer {lane.exclude_newer} -e '.[test]' "
        f"{' '.join(requirements)} (Airflow {lane.airflow} was released on {lane.released})"
    )
    command = [uv(), "pip", "install", "--quiet", "--python", str(python)]
    command += ["--exclude-newer", lane.exclude_newer, "-e", f"{REPO}[test]", *requirements]
    installed = run(command, cwd=REPO)
    if installed.returncode:
        result.error = f"install failed (exit {installed.returncode})"
        return None
    stamp.write_text(wanted_set)
    say(f"lane {lane.name}: installed in {time.monotonic() - started:.0f}s")
    return python


def pytest_run(python: Path, label: str, args: list[str], env: dict[str, str], tmp: Path) -> Counts:
    """Run pytest in the lane; return its counts from the JUnit XML it writes."""
    report = tmp / f"{label}.xml"
    command = [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={report}", *args]
    say(f"{label}: {' '.join(command[1:])}")
    left = seconds_left()
    # Its own session, so that the deadline stops pytest's workers and their airflow processes too.
    process = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True)
    try:
        returncode = process.wait(timeout=None if left is None else max(left, 1))
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise CutOff(f"{label} stopped at the CI time budget's deadline") from None
    counts = Counts(exit_code=returncode)
    if report.exists():
        # Our own pytest just wrote this file: trusted input.
        for suite in ET.parse(report).getroot().iter("testsuite"):  # noqa: S314
            total = int(suite.get("tests", 0))
            failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped = int(suite.get("skipped", 0))
            counts.failed += failed
            counts.skipped += skipped
            counts.passed += total - failed - skipped
    if counts.passed == 0 and counts.exit_code == 0:
        counts.exit_code = 5  # nothing ran: never a pass
    return counts


def run_lane(lane: Lane, workers: str, dags_only: bool = False) -> Result:
    result = Result(lane)
    started = time.monotonic()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(flush=True)
    say(f"lane {lane.name}: Airflow {lane.airflow} on Python {lane.python}")
    left = seconds_left()
    if left is not None and left < 120:
        result.cut_off = "NOT RUN: the CI time budget is spent"
        banner(f"LANE {lane.name}: NOT RUN, the CI time budget is spent ({left:.0f}s left)")
        return result
    try:
        _run_lane(result, workers, dags_only)
    except CutOff as exc:
        result.cut_off = f"CUT OFF: {exc}"
        banner(f"LANE {lane.name}: CUT OFF BY THE CI TIME BUDGET: {exc}. IT PROVES NOTHING.")
    result.seconds = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result.cpu_seconds = (cpu_after.ru_utime + cpu_after.ru_stime) - (
        cpu_before.ru_utime + cpu_before.ru_stime
    )
    say(
        f"lane {lane.name}: {'FAILED' if not result.ok else result.cut_off or 'ok'} in "
        f"{result.seconds:.0f}s ({result.cpu_seconds:.0f} CPU-seconds)"
    )
    return result


def _run_lane(result: Result, workers: str, dags_only: bool) -> None:
    lane = result.lane
    found = find_python(lane.python)
    if found is None:
        result.fallback = True
        found = default_python()
        banner(
            f"LANE {lane.name}: NO PYTHON {lane.python} ON THIS MACHINE (looked in pyenv "
            f"{[str(r) for r in pyenv_roots()] or 'roots: none'} and PATH). RUNNING ON THE DEFAULT "
            f"INTERPRETER {found} INSTEAD: THIS LANE DOES NOT PROVE PYTHON {lane.python}."
        )
    result.python_found = found
    python = prepare_venv(result, LANES_DIR / f"airflow-{lane.name}")
    if python is None:
        return

    versions = run(
        [str(python), "-c", "import sys, airflow; print(sys.version.split()[0], airflow.__version__)"],
        capture_output=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if versions.returncode == 0 and versions.stdout.split():
        result.python_version, result.airflow_version = versions.stdout.split()[-2:]
    say(f"lane {lane.name}: Python {result.python_version}, Airflow {result.airflow_version}")
    if result.airflow_version != lane.airflow:
        result.error = f"installed Airflow {result.airflow_version}, not {lane.airflow}"

    with tempfile.TemporaryDirectory(prefix=f"smartlyq-lane-{lane.name}-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(AIRFLOW_HOME=str(Path(tmp) / "airflow-home"), AIRFLOW__CORE__LOAD_EXAMPLES="False")
        example_tests = sorted(str(p.relative_to(REPO)) for p in REPO.glob(EXAMPLE_DAG_TESTS))
        # The unit tests: what the main lane runs in parallel, less the example DAGs (next). The
        # tests marked integration (real Airflow services, CLI round trips) run in the main lane.
        unit_args = ["-n", workers, "-m", "not integration and not distributed", "tests"]
        unit_args += ["--ignore=tests/integration"]
        unit_args += [f"--ignore={p}" for p in example_tests]
        if dags_only:
            result.unit = Counts(ran=False)
        else:
            result.unit = pytest_run(python, f"lane {lane.name} unit tests", unit_args, env, Path(tmp))
        say(f"lane {lane.name} unit tests: {result.unit}")
        # Each example-DAG test file shares one Airflow database per module: whole files per worker.
        dag_args = ["-n", workers, "--dist", "loadfile", *example_tests]
        result.dags = pytest_run(python, f"lane {lane.name} example DAGs", dag_args, env, Path(tmp))
        say(f"lane {lane.name} example DAGs (airflow dags test): {result.dags}")


def summary(results: list[Result]) -> int:
    print(flush=True)
    say("Version matrix")
    header = f"    {'lane':<6}{'Python':<10}{'Airflow':<9}{'unit tests':<34}{'example DAGs':<32}{'time':>6}"
    print(header)
    for r in results:
        status = "ok  " if r.ok else "FAIL"
        note = []
        if r.fallback:
            note.append(f"FALLBACK: Python {r.lane.python} missing, ran on {r.python_version}")
        if r.error:
            note.append(r.error)
        if r.cut_off:
            note.append(r.cut_off)
            status = "SKIP"
        print(
            f"{status}{r.lane.name:<6}{r.python_version:<10}{r.airflow_version:<9}{r.unit!s:<34}"
            f"{r.dags!s:<32}{r.seconds:5.0f}s {r.cpu_seconds:5.0f}cpu-s  {'; '.join(note)}"
        )
    cut = [r.lane.name for r in results if r.cut_off]
    if cut:
        banner(f"LANES NOT RUN OR CUT OFF BY THE CI TIME BUDGET: {', '.join(cut)}: UNTESTED IN THIS RUN")
    fallbacks = [r.lane.name for r in results if r.fallback]
    if fallbacks:
        banner(f"LANES ON A FALLBACK INTERPRETER: {', '.join(fallbacks)} (see above)")
    passed = sum(r.unit.passed + r.dags.passed for r in results)
    failed = sum(r.unit.failed + r.dags.failed for r in results)
    skipped = sum(r.unit.skipped + r.dags.skipped for r in results)
    failed_lanes = [r.lane.name for r in results if not r.ok]
    if failed_lanes:
        say(f"FAILED lanes: {', '.join(failed_lanes)}")
    print(f"matrix: {passed} passed, {failed} failed, {skipped} skipped", flush=True)
    return 1 if failed_lanes else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/matrix.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("lanes", nargs="*", help="lane names to run (default: all)")
    parser.add_argument("--list", action="store_true", help="print the lanes and their interpreters")
    parser.add_argument(
        "--dags-only",
        action="store_true",
        help="run only the example DAGs (airflow dags test), not the unit tests: a quick lane check",
    )
    parser.add_argument("-n", "--workers", default="2", help="pytest-xdist workers per lane (default 2)")
    args = parser.parse_args(argv)
    lanes = [lane for lane in LANES if not args.lanes or lane.name in args.lanes]
    unknown = set(args.lanes) - {lane.name for lane in LANES}
    if unknown:
        parser.error(f"unknown lane(s) {sorted(unknown)}; lanes: {[lane.name for lane in LANES]}")
    if args.list:
        for lane in lanes:
            print(f"{lane.name}: Airflow {lane.airflow} on Python {lane.python}: {find_python(lane.python)}")
        return 0
    LANES_DIR.mkdir(exist_ok=True)
    return summary([run_lane(lane, args.workers, args.dags_only) for lane in lanes])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
