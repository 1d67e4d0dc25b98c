"""Provider metadata: valid for Airflow's schema, and seen by the real ``airflow`` CLI."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import airflow
import pytest

from airflow_provider_smartlyq import __version__
from airflow_provider_smartlyq._compat import AIRFLOW_V_3_2_PLUS, AIRFLOW_V_3_3_PLUS
from airflow_provider_smartlyq.get_provider_info import get_provider_info
from airflow_provider_smartlyq.hooks._settings import settings_from_connection

BIN = Path(sys.executable).parent

# Airflow 3.1 builds custom connection forms only from hook classmethods, and only where
# flask-appbuilder is installed; 3.2 added the provider-info form (conn-fields, ui-field-behaviour)
# that this provider declares. On 3.1 the SmartlyQ connection uses the standard fields and the
# extras as JSON (docs/versions.md).
needs_declarative_form = pytest.mark.skipif(
    not AIRFLOW_V_3_2_PLUS, reason="provider-info connection forms need Airflow 3.2+ (docs/versions.md)"
)
WRONG_KEY = "sqk_live_CLI-wrong-canary-31c9e7"

# Every CLI call runs in ONE shell (each costs seconds of Airflow start-up); outputs land in files.
_BATCH = r"""
run() { name=$1; shift; "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"; echo $? >"$OUT/$name.rc"; }
run list "$BIN/airflow" providers list -o json
run hooks "$BIN/airflow" providers hooks -o json
run behaviours "$BIN/airflow" providers behaviours -o json
run widgets "$BIN/airflow" providers widgets -o json
run form "$BIN/python" -c "$FORM_SCRIPT"
run test_ok "$BIN/airflow" connections test smartlyq_default
run test_wrong "$BIN/airflow" connections test smartlyq_wrong
"""

# What the connection form is built from (the UI reads the same ProvidersManager data).
_FORM_SCRIPT = """
import json
from airflow.providers_manager import ProvidersManager
pm = ProvidersManager()
widgets = {k: v.field for k, v in pm.connection_form_widgets.items() if k.startswith("extra__smartlyq__")}
print(json.dumps({"behaviour": pm.field_behaviours.get("smartlyq"), "widgets": widgets}))
"""


def test_provider_info_is_valid_for_airflows_schema():
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())

    jsonschema.validate(get_provider_info(), schema)


def test_provider_info_fails_the_schema_when_broken():
    # The schema check above can fail: a required field missing is caught.
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    broken = {k: v for k, v in get_provider_info().items() if k != "name"}

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_entry_point_returns_this_provider_info():
    [entry] = [
        e
        for e in entry_points(group="apache_airflow_provider")
        if e.value.startswith("airflow_provider_smartlyq")
    ]

    info = entry.load()()
    assert info["package-name"] == "airflow-provider-smartlyq"
    assert info["versions"] == [__version__]


def test_every_referenced_module_and_class_imports():
    info = get_provider_info()
    modules = [
        m
        for kind in ("hooks", "operators", "sensors", "triggers")
        for item in info[kind]
        for m in item["python-modules"]
    ]
    classes = [
        *info["extra-links"],
        *(c["hook-class-name"] for c in info["connection-types"]),
        *(p["plugin-class"] for p in info["plugins"]),
    ]

    for module in modules:
        importlib.import_module(module)
    for path in classes:
        module, _, name = path.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), name), type)


def test_form_fields_are_the_extras_the_hook_reads():
    from airflow.sdk import Connection

    [conn_type] = get_provider_info()["connection-types"]
    assert conn_type["connection-type"] == "smartlyq"
    fields = conn_type["conn-fields"]
    assert set(fields) == {
        "profile_id",
        "timeout",
        "max_retries",
        "ca_bundle",
        "budget_reserve",
        "budget_max_wait",
        "request_budget",
        "webhook_secret",  # read by the plugin's webhook endpoint, not the hook
    }
    # The webhook secret is masked in the form, like the API key.
    assert fields["webhook_secret"]["schema"]["format"] == "password"
    # Airflow 3.3 shows placeholders only for the standard fields; conn-fields carry descriptions.
    assert set(conn_type["ui-field-behaviour"]["placeholders"]) == {"host", "password"}
    assert all(field["description"] for field in fields.values())

    # What the form stores is what the hook reads.
    conn = Connection(
        conn_id="form",
        conn_type="smartlyq",
        password="k",
        extra=json.dumps(
            {
                "profile_id": 3,
                "timeout": 2.5,
                "max_retries": 1,
                "ca_bundle": "/etc/ca.pem",
                "budget_reserve": 0.3,
                "budget_max_wait": 60,
                "request_budget": False,
            }
        ),
    )
    settings = settings_from_connection(conn)
    assert (settings.profile_id, settings.timeout, settings.max_retries) == (3, 2.5, 1)
    assert settings.verify == "/etc/ca.pem"
    assert (settings.budget_reserve, settings.budget_max_wait, settings.budget_enabled) == (0.3, 60, False)


@pytest.fixture(scope="module")
def cli(smartlyq_emulator_server, tmp_path_factory):
    """Run every ``airflow`` CLI call once, in one subprocess, with a fresh AIRFLOW_HOME."""
    emulator = smartlyq_emulator_server
    emulator.client.reset("demo")
    out = tmp_path_factory.mktemp("cli-out")
    home = tmp_path_factory.mktemp("fresh-airflow-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",
        AIRFLOW_CONN_SMARTLYQ_DEFAULT=emulator.connection_json(),
        AIRFLOW_CONN_SMARTLYQ_WRONG=json.dumps(
            {
                "conn_type": "smartlyq",
                "host": emulator.url,
                "password": WRONG_KEY,
                "extra": {"max_retries": 0},
            }
        ),
        OUT=str(out),
        BIN=str(BIN),
        FORM_SCRIPT=_FORM_SCRIPT,
        PYTHONWARNINGS="ignore",
    )
    subprocess.run(["bash", "-c", _BATCH], env=env, check=True, timeout=600)

    def result(name: str) -> tuple[int, str, str]:
        return (
            int((out / f"{name}.rc").read_text()),
            (out / f"{name}.out").read_text(),
            (out / f"{name}.err").read_text(),
        )

    result.requests = emulator.client.requests()  # type: ignore[attr-defined]
    return result


def _json(cli, name: str):
    rc, out, err = cli(name)
    assert rc == 0, err[-2000:]
    # Airflow may log to stdout before the document (e.g. about flask-appbuilder): take the last line.
    return json.loads(out.strip().splitlines()[-1] if name == "form" else out)


@pytest.mark.integration
def test_cli_lists_the_provider(cli):
    rows = [r for r in _json(cli, "list") if r["package_name"] == "airflow-provider-smartlyq"]

    assert [r["version"] for r in rows] == [__version__]


@pytest.mark.integration
def test_cli_lists_the_hook(cli):
    rows = [r for r in _json(cli, "hooks") if r["connection_type"] == "smartlyq"]

    assert rows == [
        {
            "connection_type": "smartlyq",
            "class": "airflow_provider_smartlyq.hooks.smartlyq.SmartlyQHook",
            "conn_id_attribute_name": "smartlyq_conn_id",
            "package_name": "airflow-provider-smartlyq",
            "hook_name": "SmartlyQ",
        }
    ]


@pytest.mark.integration
@needs_declarative_form
def test_cli_lists_the_behaviour_and_widgets(cli):
    assert {"field_behaviours": "smartlyq"} in _json(cli, "behaviours")
    widgets = {r["connection_parameter_name"]: r for r in _json(cli, "widgets") if "smartlyq" in r["class"]}

    assert {name: row["field_type"] for name, row in widgets.items()} == {
        "extra__smartlyq__profile_id": ["integer", "null"],
        "extra__smartlyq__timeout": ["number", "null"],
        "extra__smartlyq__max_retries": ["integer", "null"],
        "extra__smartlyq__ca_bundle": ["string", "null"],
        "extra__smartlyq__budget_reserve": ["number", "null"],
        "extra__smartlyq__budget_max_wait": ["number", "null"],
        "extra__smartlyq__request_budget": ["boolean", "null"],
        "extra__smartlyq__webhook_secret": ["string", "null"],
    }


@pytest.mark.integration
@needs_declarative_form
def test_connection_form_relabels_hides_and_labels(cli):
    form = _json(cli, "form")
    behaviour = form["behaviour"]

    assert behaviour["relabeling"] == {"host": "API base URL", "password": "API key"}
    assert set(behaviour["hidden_fields"]) >= {"schema", "login", "port"}
    assert behaviour["placeholders"]["password"] == "sqk_live_…"
    titles = {name: field["schema"]["title"] for name, field in form["widgets"].items()}
    assert titles == {
        "extra__smartlyq__profile_id": "Profile ID",
        "extra__smartlyq__timeout": "Timeout (seconds)",
        "extra__smartlyq__max_retries": "Max retries",
        "extra__smartlyq__ca_bundle": "CA bundle path",
        "extra__smartlyq__budget_reserve": "Budget reserve",
        "extra__smartlyq__budget_max_wait": "Budget max wait (seconds)",
        "extra__smartlyq__request_budget": "Request budget",
        "extra__smartlyq__webhook_secret": "Webhook secret",
    }


@pytest.mark.integration
def test_cli_connection_test_succeeds_against_the_emulator(cli):
    rc, out, err = cli("test_ok")

    assert rc == 0, err[-2000:]
    assert "Connection success!" in out
    assert any(r["path"] == "/v1/me" and r["key"] == "primary" and r["status"] == 200 for r in cli.requests)


@pytest.mark.integration
def test_cli_connection_test_fails_for_a_wrong_key_without_showing_it(cli):
    rc, out, err = cli("test_wrong")

    # Before 3.3, `airflow connections test` exits 0 even when the test fails (3.3 exits 1).
    assert rc != 0 or not AIRFLOW_V_3_3_PLUS
    assert "Connection failed" in out + err
    assert "401" in out + err
    assert WRONG_KEY not in out + err
    assert any(r["key"] == "unknown" and r["status"] == 401 for r in cli.requests)
