"""
The first-day user's two DAGs, run for real under ``airflow dags test`` against the emulator.

* ``smartlyq_daily_post``: 09:00 gate on every "Acme *" account (3 days of token validity);
  unhealthy -> ``notify`` gets each account's id, name, reason and reconnect link, nothing is
  posted and the run ends failed (documented choice); healthy -> exactly one post, published.
* ``smartlyq_pause_tiktok_fridays``: every TikTok account paused, nothing else touched.

Happy paths must not log a single error-level line (a newcomer reads them as failures).
"""

from __future__ import annotations

import re

from test_example_dags_gate_onboard import latest_run

DAILY = "smartlyq_daily_post"
ERROR_LINE = re.compile(r"\[error\s*\]")


def make_acme_healthy(emu) -> None:
    # Demo seed: Acme LinkedIn (104) has an expired token; Acme Instagram (102) has 3 days left.
    emu.client.update_account(104, status="connected", validity_days=30)


def posts_created(emu) -> list[dict]:
    return [r for r in emu.client.requests() if r["method"] == "POST" and r["path"] == "/v1/social/posts"]


def notify_lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if re.search(r"Account \d+ \(", line)]


def test_unhealthy_accounts_are_notified_with_reason_and_link_and_nothing_is_posted(
    run_airflow, airflow_db, smartlyq_emulator
):
    emu = smartlyq_emulator
    result = run_airflow("dags", "test", DAILY)
    output = result.stdout + result.stderr

    run = latest_run(airflow_db, DAILY)
    assert run["states"] == {"accounts_healthy": "failed", "notify": "success", "publish": "upstream_failed"}
    assert result.returncode != 0  # the run failed on purpose: no post today
    rows = run["xcoms"][("accounts_healthy", "unhealthy_accounts")]
    assert [(r["id"], r["account_name"]) for r in rows] == [(104, "Acme LinkedIn")]
    assert "token expired" in rows[0]["reason"]
    assert rows[0]["reconnect_url"].startswith(emu.url)
    assert run["xcoms"][("notify", "return_value")] == [104]
    assert any("Account 104 (Acme LinkedIn, linkedin)" in line for line in notify_lines(output))
    assert posts_created(emu) == []
    assert emu.client.posts()["posts"] == []
    assert rows[0]["reconnect_url"] not in output  # the link goes to the owner, not the log
    assert emu.api_key not in output


def test_an_account_that_blocks_only_by_min_validity_days_is_notified(
    run_airflow, airflow_db, smartlyq_emulator
):
    emu = smartlyq_emulator
    make_acme_healthy(emu)
    emu.client.update_account(102, validity_days=2)  # connected, not expired: 2 < 3 days

    result = run_airflow("dags", "test", DAILY)
    output = result.stdout + result.stderr

    run = latest_run(airflow_db, DAILY)
    assert run["states"]["publish"] == "upstream_failed", output[-5000:]
    rows = run["xcoms"][("accounts_healthy", "unhealthy_accounts")]
    assert [r["id"] for r in rows] == [102]
    assert "2 more days, 3 required" in rows[0]["reason"]
    assert rows[0]["reconnect_url"]
    assert run["xcoms"][("notify", "return_value")] == [102]
    assert posts_created(emu) == []


def test_healthy_accounts_get_exactly_one_post_and_no_notification(
    run_airflow, airflow_db, smartlyq_emulator
):
    emu = smartlyq_emulator
    make_acme_healthy(emu)

    result = run_airflow("dags", "test", DAILY)
    output = result.stdout + result.stderr

    assert result.returncode == 0, output[-6000:]
    run = latest_run(airflow_db, DAILY)
    assert run["states"] == {"accounts_healthy": "success", "notify": "skipped", "publish": "success"}
    assert run["xcoms"][("accounts_healthy", "unhealthy_accounts")] == []
    [post] = emu.client.posts()["posts"]
    assert post["status"] == "published"
    assert sorted(post["account_ids"]) == [101, 102, 103, 104]
    assert post["media_urls"] == ["https://cdn.example.com/acme/daily-offer.jpg"]
    assert len(posts_created(emu)) == 1
    validations = [r for r in emu.client.requests() if r["path"] == "/v1/social/validate/post"]
    assert len(validations) == 1  # validate_first: the free dry run before the post
    assert run["xcoms"][("publish", "post_url")].endswith(f"/posts/{post['id']}")
    assert notify_lines(output) == []
    assert not ERROR_LINE.search(output), [line for line in output.splitlines() if ERROR_LINE.search(line)]


def test_fridays_pause_every_tiktok_account_and_nothing_else(run_airflow, airflow_db, smartlyq_emulator):
    emu = smartlyq_emulator
    second = emu.client.add_account("tiktok", "Acme TikTok")  # Globex TikTok (105) is paused already
    before = {a["id"]: a["paused"] for a in emu.client.state()["accounts"]}

    result = run_airflow("dags", "test", "smartlyq_pause_tiktok_fridays")
    output = result.stdout + result.stderr

    assert result.returncode == 0, output[-5000:]
    after = {a["id"]: a for a in emu.client.state()["accounts"]}
    tiktok = {i for i, a in after.items() if a["platform"] == "tiktok" and a.get("profile_id") is None}
    assert tiktok == {105, second["id"]}
    assert all(after[i]["paused"] for i in tiktok)
    assert {i: a["paused"] for i, a in after.items() if i not in tiktok} == {
        i: p for i, p in before.items() if i not in tiktok
    }
    paused = [w for w in emu.client.writes() if w["action"] == "account_paused"]
    assert [w["account_id"] for w in paused] == [second["id"]]  # 105 was skipped: already paused
    assert not ERROR_LINE.search(output), [line for line in output.splitlines() if ERROR_LINE.search(line)]
