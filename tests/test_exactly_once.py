"""
Exactly-once publishing under Airflow retries and clears, in real ``airflow dags test`` runs.

The DAG below publishes one post with retries. A fault makes the first try fail AFTER the post
was created; Airflow retries the task; the retry sends the same idempotency key and body, so
SmartlyQ (the emulator) replays the post: one post, one credit charge, whatever the tries.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap

import pytest

from airflow_provider_smartlyq._compat import AIRFLOW_V_3_2_PLUS

DAG_ID = "smartlyq_exactly_once"
LOGICAL_DATE = "2025-01-01T00:00:00+00:00"

DAG_FILE = textwrap.dedent(
    """
    import os
    from datetime import timedelta

    import pendulum
    from airflow.sdk import DAG

    from airflow_provider_smartlyq.operators.smartlyq import SmartlyQPublishPostOperator


    class LostAfterThePost(SmartlyQPublishPostOperator):
        # Plays a worker lost right after SmartlyQ created the post (try 1 only, when asked).

        def _create(self, hook, account_ids, platforms, key):
            post = super()._create(hook, account_ids, platforms, key)
            if os.environ.get("LOSE_TRY_1") == "1" and self.try_number_now == 1:
                raise RuntimeError("worker lost after the POST")
            return post

        def execute(self, context):
            self.try_number_now = context["ti"].try_number
            return super().execute(context)


    with DAG(
        dag_id="smartlyq_exactly_once",
        schedule=None,
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
    ):
        LostAfterThePost(
            task_id="publish",
            content="Summer sale starts now ({{ run_id }})",
            account_name_pattern="Acme *",
            platforms=["facebook", "x"],
            deferrable=os.environ.get("PUBLISH_DEFERRABLE") == "1",
            poll_interval=0.5,
            retries=2,
            retry_delay=timedelta(seconds=1),
        )
    """
)


@pytest.fixture
def dags_folder(tmp_path):
    (tmp_path / "exactly_once.py").write_text(DAG_FILE)
    return tmp_path


def run_dag(run_airflow, dags_folder, *, deferrable: bool, lose_try_1: bool = False):
    env = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "PUBLISH_DEFERRABLE": "1" if deferrable else "0",
        "LOSE_TRY_1": "1" if lose_try_1 else "0",
    }
    result = run_airflow("dags", "test", DAG_ID, LOGICAL_DATE, env=env, conn_extra={"max_retries": 1})
    return result, result.stdout + result.stderr


def xcom_value(raw):
    """Return an XCom value as stored in the sqlite JSON column (numbers come back as numbers)."""
    return json.loads(raw) if isinstance(raw, (str, bytes)) else raw


def publish_ti(airflow_db) -> dict:
    with sqlite3.connect(airflow_db / "airflow.db") as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(
            "SELECT run_id, state, try_number FROM task_instance WHERE dag_id = ? AND task_id = 'publish'",
            (DAG_ID,),
        ).fetchall()
        xcoms = dict(
            db.execute(
                "SELECT key, value FROM xcom WHERE dag_id = ? AND task_id = 'publish'", (DAG_ID,)
            ).fetchall()
        )
    assert len(rows) == 1, rows  # one run (same logical date -> same run id), one task instance
    return {**dict(rows[0]), "xcoms": xcoms}


def assert_one_post_one_charge(emu) -> dict:
    posts = emu.client.posts()
    assert len(posts["posts"]) == 1, posts["posts"]
    assert len(posts["charges"]) == 1, posts["charges"]
    created = [w for w in emu.client.writes() if w["action"] == "post_created"]
    assert len(created) == 1
    post = posts["posts"][0]
    assert post["status"] == "published"
    assert post["idempotency_key"].startswith("af:post:")
    return post


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferrable"])
def test_a_try_lost_after_the_post_is_retried_by_airflow_and_replays_the_post(
    run_airflow, airflow_db, smartlyq_emulator, dags_folder, deferrable
):
    emu = smartlyq_emulator
    # The POST goes through, then try 1 dies (an unexpected error, as a lost worker would be:
    # not a permanent SmartlyQ error, which would fail the task without retries).
    if deferrable:
        # Slow publishing (3 stages x 4 s) so that the retry finds the post still on its way
        # and defers to the trigger, rather than finding it already published.
        emu.client.update_posts_settings(stage_seconds=4)

    result, output = run_dag(run_airflow, dags_folder, deferrable=deferrable, lose_try_1=True)

    assert result.returncode == 0, output[-6000:]
    ti = publish_ti(airflow_db)
    assert ti["state"] == "success"
    assert ti["try_number"] == 2  # Airflow did retry the task
    assert "worker lost after the POST" in output
    post = assert_one_post_one_charge(emu)
    creates = [r for r in emu.client.requests() if r["method"] == "POST" and r["path"] == "/v1/social/posts"]
    assert len(creates) == 2  # one per try ...
    assert [r["replay"] for r in creates] == [False, True]  # ... the second one replayed
    assert len({r["idempotency_key"] for r in creates}) == 1
    assert "SmartlyQ replayed post" in output
    assert xcom_value(ti["xcoms"]["post_id"]) == post["id"]
    assert xcom_value(ti["xcoms"]["post_url"]).endswith(f"/posts/{post['id']}")
    if deferrable:
        assert "running trigger in line" in output
    assert emu.api_key not in output


def test_a_lost_create_answer_fails_the_try_and_the_retry_replays(
    run_airflow, airflow_db, smartlyq_emulator, dags_folder
):
    emu = smartlyq_emulator
    # SmartlyQ creates the post but every answer to the create is lost (500 after acting) until
    # the hook's retries inside try 1 are spent (max_retries=1: two attempts).
    emu.client.inject_fault("/v1/social/posts", "POST", status=500, count=2, after=True)

    result, output = run_dag(run_airflow, dags_folder, deferrable=False)

    assert result.returncode == 0, output[-6000:]
    ti = publish_ti(airflow_db)
    assert (ti["state"], ti["try_number"]) == ("success", 2)
    assert_one_post_one_charge(emu)
    creates = [r for r in emu.client.requests() if r["method"] == "POST" and r["path"] == "/v1/social/posts"]
    assert len(creates) == 3  # 2 attempts in try 1 (both answered 500), 1 in try 2


@pytest.mark.skipif(
    not AIRFLOW_V_3_2_PLUS,
    reason="Airflow 3.1's `airflow tasks test` cannot run a task of a cleared run: its execution API "
    "rejects the run's emptied start_date (TIRunContext validation error) and the task never starts",
)
def test_a_cleared_and_rerun_task_instance_replays(run_airflow, airflow_db, smartlyq_emulator, dags_folder):
    emu = smartlyq_emulator
    first, output = run_dag(run_airflow, dags_folder, deferrable=False)
    assert first.returncode == 0, output[-6000:]
    run_id = publish_ti(airflow_db)["run_id"]
    env = {"AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder), "PUBLISH_DEFERRABLE": "0"}

    # Clear the task instance (as the UI's "Clear" does), then run it again in the SAME run.
    # (`airflow dags test` cannot do this: with the same logical date it deletes the run and
    # creates a new one under a new run id, which is a new task instance and posts anew.)
    window = ("-s", LOGICAL_DATE, "-e", LOGICAL_DATE)
    cleared = run_airflow("tasks", "clear", DAG_ID, *window, "-y", env=env)
    assert cleared.returncode == 0, cleared.stdout + cleared.stderr
    assert publish_ti(airflow_db)["state"] is None, cleared.stdout[-3000:] + cleared.stderr[-3000:]
    rerun = run_airflow("tasks", "test", DAG_ID, "publish", run_id, env=env, conn_extra={"max_retries": 1})
    output = rerun.stdout + rerun.stderr

    assert rerun.returncode == 0, output[-6000:]
    assert "SmartlyQ replayed post" in output
    assert_one_post_one_charge(emu)
    creates = [r for r in emu.client.requests() if r["method"] == "POST" and r["path"] == "/v1/social/posts"]
    assert [r["replay"] for r in creates] == [False, True]
