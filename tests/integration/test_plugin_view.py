"""
The "SmartlyQ accounts" view on a real api-server with login (simple auth manager), the emulator
behind it, and headless Chromium.

- Access: anonymous requests get 401, a ``viewer`` (no connection access) 403, an ``admin`` 200,
  for the view, its data and the reconnect action.
- In the browser: the view shows the emulator's accounts with the states of the one rule, a bad
  key shows as an error for that connection only, and Reconnect fetches exactly one link (the
  emulator's request log counts it). The bulk health request is made once and cached.
  Screenshots are kept in the test's directory and the docs use one.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import pytest
import requests
from browser_support import chromium_page, require_chromium, run_api_server

from airflow_provider_smartlyq.core.account_state import account_state
from airflow_provider_smartlyq.plugins.accounts_data import EXPIRING_WITHIN_DAYS

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from airflow_provider_smartlyq.testing.emulator import RunningEmulator

pytestmark = pytest.mark.integration

API_KEY = "sqk_live_VIEW" + "Tq3Nb8Wc5Xr1Lm7Pk2Hd"
PASSWORDS = {"admin": "admin-pass-7c1", "viewer": "viewer-pass-2b9"}
HEALTH_PATH = "/v1/social/accounts/health"
RECONNECT_ACCOUNT = 104  # Acme LinkedIn: expired in the demo seed
DATA = "/smartlyq/api/connections/smartlyq_default/accounts"
RECONNECT = f"/smartlyq/api/connections/smartlyq_default/accounts/{RECONNECT_ACCOUNT}/reconnect"


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    from airflow_provider_smartlyq.testing.emulator import run_emulator

    with run_emulator(seed="demo", api_key=API_KEY) as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, emulator: RunningEmulator) -> Iterator[str]:
    """An api-server with two users (admin, viewer), a good and a bad SmartlyQ connection."""
    home = tmp_path_factory.mktemp("view-server")
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    bad = json.loads(emulator.connection_json())
    bad["password"] = "sqk_live_wrong" + "KeyForTheView00"
    with run_api_server(
        home,
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin,viewer:viewer",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
        AIRFLOW_CONN_SMARTLYQ_DEFAULT=emulator.connection_json(),
        AIRFLOW_CONN_SMARTLYQ_BADKEY=json.dumps(bad),
    ) as url:
        yield url


def token(server: str, user: str) -> str:
    answer = requests.post(
        f"{server}/auth/token", json={"username": user, "password": PASSWORDS[user]}, timeout=30
    )
    assert answer.status_code in (200, 201), answer.text
    return str(answer.json()["access_token"])


def call(server: str, method: str, path: str, user: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token(server, user)}"} if user else {}
    return requests.request(method, f"{server}{path}", headers=headers, timeout=60)


def requests_to(emulator: RunningEmulator, path: str) -> int:
    return sum(1 for r in emulator.client.requests() if r["path"] == path)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/smartlyq/accounts"), ("GET", "/smartlyq/api/connections"), ("GET", DATA), ("POST", RECONNECT)],
)
def test_view_data_and_reconnect_need_connection_read_access(
    server: str, emulator: RunningEmulator, method: str, path: str
) -> None:
    links_before = requests_to(emulator, f"/v1/social/accounts/{RECONNECT_ACCOUNT}/reconnect-url")

    assert call(server, method, path, None).status_code == 401
    assert call(server, method, path, "viewer").status_code == 403
    # Refused before any SmartlyQ request: no link was fetched for them.
    assert requests_to(emulator, f"/v1/social/accounts/{RECONNECT_ACCOUNT}/reconnect-url") == links_before
    if method == "GET":  # the admin's reconnect is the browser test's (it counts the links)
        assert call(server, method, path, "admin").status_code == 200


def expected_states(emulator: RunningEmulator) -> dict[str, str]:
    """The states the one rule gives the emulator's accounts (read from the emulator's state)."""
    response = requests.get(
        f"{emulator.api_url}/social/accounts/health",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )
    answer = response.json()["data"]
    return {
        str(row["id"]): account_state(row, min_validity_days=EXPIRING_WITHIN_DAYS).state
        for row in answer["accounts"]
    }


ROWS_JS = """
(() => {
  const doc = %s;
  if (!doc || !doc.body || doc.body.getAttribute('data-loaded') !== 'true') return null;
  const rows = [...doc.querySelectorAll('[data-connection=smartlyq_default] tr[data-account-row]')];
  return {
    rows: rows.map(tr => ({id: tr.getAttribute('data-account-row'),
                           cells: [...tr.cells].map(c => c.innerText.trim())})),
    counts: Object.fromEntries([...doc.querySelectorAll('[data-connection=smartlyq_default] [data-count]')]
      .map(e => [e.getAttribute('data-count'), e.innerText])),
    badkey: (doc.querySelector('[data-connection=smartlyq_badkey] .error') || {}).innerText || null,
    links: doc.querySelectorAll('a.link').length,
  };
})()
"""


async def _drive_browser(server: str, admin_token: str, shots: dict[str, Path]) -> dict[str, Any]:
    require_chromium()
    async with chromium_page(shots["accounts-view"].parent / "chromium-profile") as page:
        await page.send("Network.enable")
        await page.send("Network.setCookie", name="_token", value=admin_token, url=server, path="/")
        # Inside the Airflow UI: the nav entry opens the view in the plugin page's frame.
        await page.send("Page.navigate", url=f"{server}/plugin/smartlyq-accounts")
        in_ui = await page.wait_js(
            ROWS_JS % "document.querySelector('iframe')?.contentDocument", "the view", 60
        )
        await page.screenshot(shots["accounts-view"])
        # The entry sits in the Browse menu of the navigation.
        await page.click(
            "[...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'Browse')", "Browse"
        )
        nav_has_entry = await page.wait_js(
            "[...document.querySelectorAll('[role=menuitem], a')]"
            ".some(e => e.innerText.trim() === 'SmartlyQ accounts' && e.checkVisibility())",
            "the SmartlyQ accounts entry in the Browse menu",
        )
        # The view on its own, to click Reconnect.
        await page.send("Page.navigate", url=f"{server}/smartlyq/accounts")
        alone = await page.wait_js(ROWS_JS % "document", "the view page", 60)
        await page.click(
            f"document.querySelector('button[data-account=\"{RECONNECT_ACCOUNT}\"]')", "the Reconnect button"
        )
        link = await page.wait_js(
            "document.querySelector('a.link') && document.querySelector('a.link').href", "the reconnect link"
        )
        links_shown = await page.js("document.querySelectorAll('a.link').length")
        await page.screenshot(shots["reconnect"])
        return {
            "in_ui": in_ui,
            "alone": alone,
            "nav": nav_has_entry,
            "link": link,
            "links_shown": links_shown,
            "errors": page.exceptions,
        }


def test_view_shows_the_accounts_and_reconnect_fetches_one_link(
    server: str, emulator: RunningEmulator, tmp_path: Path
) -> None:
    expected = expected_states(emulator)
    health_before = requests_to(emulator, HEALTH_PATH)
    link_path = f"/v1/social/accounts/{RECONNECT_ACCOUNT}/reconnect-url"
    links_before = sum(1 for r in emulator.client.requests() if "/reconnect-url" in r["path"])
    shots = {
        "accounts-view": tmp_path / "smartlyq-accounts-view.png",
        "reconnect": tmp_path / "smartlyq-reconnect.png",
    }

    began = time.monotonic()
    seen = asyncio.run(_drive_browser(server, token(server, "admin"), shots))
    for path in shots.values():
        print(f"\nscreenshot: {path}")
    print(f"browser part took {time.monotonic() - began:.1f}s")

    for view in (seen["in_ui"], seen["alone"]):
        shown = {row["id"]: row["cells"][2] for row in view["rows"]}
        assert shown == expected, view
        assert view["links"] == 0  # no link is rendered before a click
        counts = {
            state: list(expected.values()).count(state) for state in ("healthy", "expiring", "unhealthy")
        }
        for state, n in counts.items():
            assert view["counts"][state] == f"{state}: {n}"
        assert "SmartlyQAuthError" in view["badkey"] or "401" in view["badkey"], view["badkey"]
        assert API_KEY not in json.dumps(view)
    assert {"102": "expiring", "104": "unhealthy", "101": "healthy"}.items() <= expected.items()
    assert seen["nav"]
    assert seen["links_shown"] == 1
    assert seen["link"].startswith("http")
    assert not seen["errors"], seen["errors"]
    # Exactly one reconnect link fetched from SmartlyQ, for the clicked account.
    fetched = [r["path"] for r in emulator.client.requests() if "/reconnect-url" in r["path"]][links_before:]
    assert fetched == [link_path]
    # Two page loads (and the auth test's data call before): at most one bulk request, from the cache.
    assert requests_to(emulator, HEALTH_PATH) - health_before <= 1


async def _empty_view(server: str, profile: Path) -> Any:
    async with chromium_page(profile) as page:
        await page.send("Page.navigate", url=f"{server}/smartlyq/accounts")
        # Right after navigating there may be no body yet: a null body means "not yet", not an error.
        return await page.wait_js(
            "!!document.body && document.body.getAttribute('data-loaded') === 'true' && "
            "(document.getElementById('empty-state') || {}).innerText",
            "the empty state",
        )


def test_view_without_a_smartlyq_connection_says_how_to_add_one(tmp_path: Path) -> None:
    require_chromium()
    with run_api_server(tmp_path) as server:  # every user admin, no SmartlyQ connection
        assert requests.get(f"{server}/smartlyq/api/connections", timeout=30).json() == {"connections": []}
        text = asyncio.run(_empty_view(server, tmp_path / "chromium-profile"))

    assert "No SmartlyQ connection yet" in text
