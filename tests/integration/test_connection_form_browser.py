"""
Check the SmartlyQ connection form in a real browser: the real api-server, headless Chromium.

The React UI builds the Add Connection form from ``/ui/connections/hook_meta`` (our
``ui-field-behaviour`` and ``conn-fields``). Unit tests of that JSON cannot show what a user
sees, so this test clicks through the form as a user would and asserts on the rendered DOM:
the API key is a password input, host is relabelled, Profile ID is offered, login, schema and
port are gone. Chromium and the api-server come from ``browser_support``.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import pytest
import requests
from browser_support import Page, chromium_page, require_chromium, run_api_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.integration

#: The fields ``ui-field-behaviour`` hides; the form must not offer them.
HIDDEN_STANDARD_FIELDS = ("login", "schema", "port")


@pytest.fixture(scope="module", autouse=True)
def _chromium_installed() -> None:
    """Skip (fail under CI) before starting anything when Chromium is missing."""
    require_chromium()


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[str]:
    """Start the real ``airflow api-server`` (all users admin: no login) on a free port; return its URL."""
    with run_api_server(tmp_path) as url:
        yield url


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
