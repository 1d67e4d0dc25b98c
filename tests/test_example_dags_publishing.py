"""The publishing example DAGs run for real under ``airflow dags test`` against the emulator."""

from __future__ import annotations

import json

from test_example_dags_gate_onboard import latest_run


def test_gate_publishing_dag_publishes_once_and_reports_the_urls(run_airflow, airflow_db, smartlyq_emulator):
    emu = smartlyq_emulator
    emu.client.update_posts_settings(stage_seconds=1)  # slow enough for the publish task to defer

    result = run_airflow(
        "dags", "test", "smartlyq_gate_publishing", "-c", json.dumps({"message": "Hi there"})
    )
    output = result.stdout + result.stderr

    assert result.returncode == 0, output[-6000:]
    run = latest_run(airflow_db, "smartlyq_gate_publishing")
    assert set(run["states"].values()) == {"success"}
    (post,) = emu.client.posts()["posts"]
    assert post["content"] == "Hi there"
    assert post["account_ids"] == [101, 103]
    assert run["xcoms"][("publish", "post_id")] == post["id"]
    urls = run["xcoms"][("report", "return_value")]
    assert urls == post["post_urls"]["facebook"] + post["post_urls"]["twitter"]
    assert run["xcoms"][("publish", "post_url")] == urls[0]
    assert "running trigger in line" in output  # the publish task deferred
    paths = [(r["method"], r["path"]) for r in emu.client.requests()]
    assert paths.index(("POST", "/v1/social/validate/post")) < paths.index(("POST", "/v1/social/posts"))


def test_gate_publishing_dag_stops_at_validation(run_airflow, airflow_db, smartlyq_emulator):
    result = run_airflow("dags", "test", "smartlyq_gate_publishing", "-c", json.dumps({"message": "x" * 300}))

    assert result.returncode != 0
    run = latest_run(airflow_db, "smartlyq_gate_publishing")
    assert run["states"]["validate"] == "failed"
    assert run["states"]["publish"] == "upstream_failed"
    assert smartlyq_emulator.client.posts()["posts"] == []  # nothing published, nothing charged


def test_per_brand_dag_publishes_one_post_per_brand(run_airflow, airflow_db, smartlyq_emulator):
    emu = smartlyq_emulator

    result = run_airflow("dags", "test", "smartlyq_publish_per_brand")
    output = result.stdout + result.stderr

    assert result.returncode == 0, output[-6000:]
    posts = sorted(emu.client.posts()["posts"], key=lambda p: p["account_ids"])
    assert [p["account_ids"] for p in posts] == [[101, 103], [106, 107]]  # Acme, Globex
    assert [p["status"] for p in posts] == ["published", "published"]
    assert len({p["idempotency_key"] for p in posts}) == 2  # one key per mapped instance
    run = latest_run(airflow_db, "smartlyq_publish_per_brand")
    assert set(run["states"].values()) == {"success"}
    assert run["xcoms"][("report", "return_value")] == {
        str(p["id"]): [u for platform in p["platforms"] for u in p["post_urls"][platform]] for p in posts
    }
