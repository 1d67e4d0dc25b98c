"""
Real api-servers and headless Chromium for browser tests (the connection form, the SmartlyQ view).

Chromium is driven over the DevTools protocol with ``aiohttp`` (already a dependency), so no
WebDriver or browser download is needed; only Debian's ``chromium``. Imported by a name unique
in the tree (``from browser_support import ...``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
import requests
from ci_support import skip_or_fail

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

CHROMIUM = shutil.which("chromium")
AIRFLOW_BIN = str(Path(sys.executable).with_name("airflow"))
VIEWPORT = {"width": 1280, "height": 1100}
#: Headless, as root in a container, and quiet: no sandbox, no GPU, no calls home, any proxy ignored.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-proxy-server",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
)


def require_chromium() -> None:
    """Skip (fail under CI) when Chromium is missing."""
    if CHROMIUM is None:
        skip_or_fail("no `chromium` on PATH: install Debian's `chromium` package to run the browser test")


def _free_port() -> int:
    """Return a TCP port free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(predicate: Any, timeout: float, what: str, on_timeout: Any = lambda: "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{on_timeout()}")
        time.sleep(0.25)
    return value


@contextlib.contextmanager
def run_api_server(tmp_path: Path, **settings: str) -> Iterator[str]:
    """
    Start the real ``airflow api-server`` on a free port; yield its URL.

    By default every user is admin (no login); ``settings`` (environment variables) override
    or add to the defaults, e.g. a connection or the simple auth manager's users.
    """
    home = tmp_path / "airflow-home"
    (home / "dags").mkdir(parents=True)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW__CORE__AUTH_MANAGER=(
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
        AIRFLOW__API__SECRET_KEY=secrets.token_hex(16),
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(32),
        PYTHONWARNINGS="ignore::DeprecationWarning",
    )
    env.update(settings)
    began = time.monotonic()
    subprocess.run([AIRFLOW_BIN, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    migrated = time.monotonic() - began
    log_path = tmp_path / "api-server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [AIRFLOW_BIN, "api-server"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its uvicorn workers share the group: one killpg stops all
        )
    url = f"http://127.0.0.1:{port}"
    session = requests.Session()
    session.trust_env = False  # loopback: never through a proxy from the environment

    def healthy() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"api-server exited {proc.returncode}\n{log_path.read_text()[-4000:]}")
        try:
            return session.get(f"{url}/api/v2/monitor/health", timeout=5).ok
        except requests.RequestException:
            return False

    try:
        _wait(healthy, 90, "the api-server", lambda: log_path.read_text()[-4000:])
        print(f"\napi-server up at {url} after {time.monotonic() - began:.1f}s (db migrate {migrated:.1f}s)")
        yield url
    finally:
        session.close()
        # Nothing to shut down gracefully (the home is thrown away): kill the whole group at once.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


class Page:
    """
    A minimal Chrome DevTools Protocol client for one page target.

    Input goes through ``Input.*`` (real mouse and keyboard events, as a user's), reads through
    ``Runtime.evaluate``.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse[Any]) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.exceptions: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            data = json.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
            elif data.get("method") == "Runtime.exceptionThrown":
                self.exceptions.append(json.dumps(data["params"]["exceptionDetails"])[:500])

    async def close(self) -> None:
        """Stop reading events."""
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call one CDP method; return its result."""
        call_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        await self._ws.send_json({"id": call_id, "method": method, "params": params})
        answer = await asyncio.wait_for(future, 30)
        if "error" in answer:
            raise RuntimeError(f"{method} failed: {answer['error']}")
        result: dict[str, Any] = answer["result"]
        return result

    async def js(self, expression: str) -> Any:
        """Evaluate ``expression`` in the page; return its JSON value."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_js(self, expression: str, what: str, timeout: float = 20) -> Any:
        """Re-evaluate ``expression`` until truthy (the React UI renders asynchronously)."""
        deadline = time.monotonic() + timeout
        while not (value := await self.js(expression)):
            if time.monotonic() > deadline:
                text = await self.js("document.body ? document.body.innerText : ''")
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; page:\n{text}")
            await asyncio.sleep(0.1)
        return value

    async def click(self, element_js: str, what: str) -> None:
        """
        Click the centre of ``element_js`` with the mouse, once it is visible, still and on top.

        "Still" matters: accordions and dialogs animate, and a click aimed at a moving element
        lands beside it.
        """
        x, y = await self.wait_js(
            f"(async () => {{ const el = {element_js};"
            " if (!el || !el.checkVisibility()) return null;"
            " el.scrollIntoView({block: 'center'}); const a = el.getBoundingClientRect();"
            " await new Promise(resolve => setTimeout(resolve, 50));"
            " const r = el.getBoundingClientRect();"
            " if (!r.width || a.x !== r.x || a.y !== r.y || a.height !== r.height) return null;"
            " const x = r.x + r.width / 2, y = r.y + r.height / 2;"
            " return el.contains(document.elementFromPoint(x, y)) ? [x, y] : null; })()",
            what,
        )
        for event in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", type=event, x=x, y=y, button="left", clickCount=1)

    async def screenshot(self, path: Path) -> None:
        """Save a PNG of the page to ``path``."""
        shot = await self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))

    async def type(self, text: str) -> None:
        """Type ``text`` into the focused element."""
        await self.send("Input.insertText", text=text)


@contextlib.asynccontextmanager
async def chromium_page(profile_dir: Path) -> AsyncIterator[Page]:
    """Start headless Chromium with a throwaway profile; yield its first page."""
    assert CHROMIUM is not None
    profile_dir.mkdir()
    proc = subprocess.Popen(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # Chromium writes the port it picked (and the browser's ws path) into this file.
        port_file = profile_dir / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while len(port_file.read_text().splitlines() if port_file.exists() else ()) < 2:
            assert proc.poll() is None, f"chromium exited {proc.returncode}"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port in 30s"
            await asyncio.sleep(0.05)
        devtools = f"http://127.0.0.1:{port_file.read_text().split()[0]}"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{devtools}/json/list") as response:
                targets = await response.json()
            target = next(t for t in targets if t["type"] == "page")
            async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                try:
                    await page.send("Runtime.enable")
                    await page.send("Page.enable")
                    await page.send(
                        "Emulation.setDeviceMetricsOverride", deviceScaleFactor=1, mobile=False, **VIEWPORT
                    )
                    yield page
                finally:
                    await page.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
