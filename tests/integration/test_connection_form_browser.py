"""
Check the SmartlyQ connection form in a real browser: the real api-server, headless Chromium.

The React UI builds the Add Connection form from ``/ui/connections/hook_meta`` (our
``ui-field-behaviour`` and ``conn-fields``). Unit tests of that JSON cannot show what a user
sees, so this test clicks through the form as a user would and asserts on the rendered DOM:
the API key is a password input, host is relabelled, Profile ID is offered, login, schema and
port are gone. Chromium is driven over the DevTools protocol with ``aiohttp`` (already a
dependency), so no WebDriver or browser download is needed; only Debian's ``chromium``.
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

pytestmark = pytest.mark.integration

#: The fields ``ui-field-behaviour`` hides; the form must not offer them.
HIDDEN_STANDARD_FIELDS = ("login", "schema", "port")
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


@pytest.fixture(scope="module", autouse=True)
def _chromium_installed() -> None:
    """Skip (fail under CI) before starting anything when Chromium is missing."""
    if CHROMIUM is None:
        skip_or_fail("no `chromium` on PATH: install Debian's `chromium` package to run the browser test")


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[str]:
    """Start the real ``airflow api-server`` (all users admin: no login) on a free port; return its URL."""
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


def _button(text: str) -> str:
    """Return JS for the visible button whose text is ``text``."""
    return (
        f"[...document.querySelectorAll('button')].find("
        f"b => b.innerText.trim() === {json.dumps(text)} && b.checkVisibility())"
    )


async def choose_connection_type(page: Page, hook_name: str) -> None:
    """Pick ``hook_name`` in the Connection Type select: click it, type, click the option."""
    await page.click("document.querySelector('[role=dialog] input[role=combobox]')", "Connection Type")
    await page.type(hook_name)
    await page.click(
        "[...document.querySelectorAll('[role=option]')]"
        f".find(o => o.innerText.trim() === {json.dumps(hook_name)})",
        f"the {hook_name} option",
    )


#: The labelled controls of the Add Connection dialog the user can see now.
VISIBLE_FIELDS_JS = """
[...document.querySelectorAll('[role=dialog] label')].filter(label => label.checkVisibility()).map(label => {
  const control = label.htmlFor ? document.getElementById(label.htmlFor) : null;
  return {
    label: label.innerText.replace('*', '').trim(),
    name: control ? control.getAttribute('name') : null,
    type: control ? control.getAttribute('type') : null,
    placeholder: control ? control.getAttribute('placeholder') : null,
  };
})
"""


async def test_smartlyq_connection_form_in_chromium(api_server: str, tmp_path: Path) -> None:
    """The Add Connection form for SmartlyQ shows only what a SmartlyQ connection needs."""
    began = time.monotonic()
    # What the React form is built from: our provider metadata, as the api-server serves it.
    meta = requests.get(f"{api_server}/ui/connections/hook_meta", timeout=30).json()
    smartlyq = next(m for m in meta if m["connection_type"] == "smartlyq")
    assert smartlyq["hook_name"] == "SmartlyQ"
    standard = smartlyq["standard_fields"]
    assert standard["password"] == {"hidden": False, "title": "API key", "placeholder": "sqk_live_…"}
    assert standard["host"]["title"] == "API base URL"
    assert all(standard[f]["hidden"] for f in ("login", "url_schema", "port"))
    assert smartlyq["extra_fields"]["profile_id"]["schema"]["title"] == "Profile ID"

    shots = {part: tmp_path / f"smartlyq-connection-form-{part}.png" for part in ("standard", "extra")}
    async with chromium_page(tmp_path / "chromium-profile") as page:
        await page.send("Page.navigate", url=f"{api_server}/connections")
        await page.click(_button("Add Connection"), "the Add Connection button")
        await page.click("document.querySelector('[role=dialog] [name=connection_id]')", "Connection ID")
        await page.type("smartlyq_browser_test")
        await choose_connection_type(page, "SmartlyQ")
        await page.click("document.querySelector('[role=dialog] [name=password]')", "the API key field")
        await page.type("sqk_live_not_a_real_key")
        standard_fields = await page.js(VISIBLE_FIELDS_JS)
        await page.screenshot(shots["standard"])
        # Extra fields live in a collapsed section (opening it folds Standard Fields away).
        await page.click(_button("Extra Fields"), "the Extra Fields section")
        await page.wait_js(
            "!document.querySelector('[role=dialog] [name=password]')?.checkVisibility()",
            "the Standard Fields section to fold away",
        )
        await page.click("document.querySelector('[role=dialog] [name=element_profile_id]')", "Profile ID")
        await page.type("42")
        extra_fields = await page.js(VISIBLE_FIELDS_JS)
        await page.screenshot(shots["extra"])
        all_names = await page.js(
            "[...document.querySelectorAll('[role=dialog] [name]')].map(e => e.getAttribute('name'))"
        )
        all_labels = await page.js(
            "[...document.querySelectorAll('[role=dialog] label')].map(l => l.innerText.trim())"
        )
        values = await page.js(
            "Object.fromEntries([...document.querySelectorAll('[role=dialog] input[name]')]"
            ".map(i => [i.name, i.value]))"
        )
        extra_json_offered = await page.js(f"Boolean({_button('Extra Fields JSON')})")
        # Control: a type without field behaviour does offer login, schema and port under these
        # names, so their absence above is SmartlyQ's doing and not a renamed or broken form.
        await choose_connection_type(page, "Generic")
        await page.click(_button("Standard Fields"), "the Standard Fields section")
        generic_names = await page.wait_js(
            "(() => { const names = [...document.querySelectorAll('[role=dialog] [name]')]"
            ".filter(e => e.checkVisibility()).map(e => e.getAttribute('name'));"
            " return names.includes('login') ? names : null; })()",
            "the Generic type's login field",
        )
        page_errors = page.exceptions

    for path in shots.values():
        print(f"\nscreenshot of the SmartlyQ connection form: {path}")
    print(f"visible fields, Standard Fields open: {json.dumps(standard_fields, ensure_ascii=False)}")
    print(f"visible fields, Extra Fields open: {json.dumps(extra_fields, ensure_ascii=False)}")
    print(f"raw 'Extra Fields JSON' editor offered (Airflow 3.3 cannot hide 'extra'): {extra_json_offered}")
    print(f"browser part took {time.monotonic() - began:.1f}s")
    fields = {f["label"]: f for f in standard_fields + extra_fields}

    # The relabelled API key: a password input, so the key is masked on screen.
    assert fields["API key"]["name"] == "password"
    assert fields["API key"]["type"] == "password"
    assert fields["API key"]["placeholder"] == "sqk_live_…"
    assert values["password"] == "sqk_live_not_a_real_key"
    # Host, relabelled, with its placeholder.
    assert fields["API base URL"]["name"] == "host"
    assert fields["API base URL"]["placeholder"] == "https://api.smartlyq.com"
    # The conn-fields extra, with the value the user typed.
    assert fields["Profile ID"]["name"] == "element_profile_id"
    assert values["element_profile_id"] == "42"
    # Unused standard fields are not in the form at all (not merely collapsed).
    for name in HIDDEN_STANDARD_FIELDS:
        assert name not in all_names, f"{name!r} should be hidden; the form has {all_names}"
    for label in ("Login", "Schema", "Port"):
        assert label not in all_labels, f"{label!r} should be hidden; the form has {all_labels}"
    assert set(HIDDEN_STANDARD_FIELDS) <= set(generic_names), generic_names
    assert not page_errors, f"the UI threw: {page_errors}"
