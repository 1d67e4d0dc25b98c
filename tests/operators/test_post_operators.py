"""Publish and validate operators against the emulator (demo seed: 101-104 Acme, 105-108 Globex)."""

from __future__ import annotations

import pickle
import re
from types import SimpleNamespace

import pytest

from airflow_provider_smartlyq._compat import AirflowFailException, TaskDeferred
from airflow_provider_smartlyq.exceptions import (
    SmartlyQDuplicateContentError,
    SmartlyQIdempotencyConflictError,
    SmartlyQInsufficientBalanceError,
    SmartlyQPublishError,
    SmartlyQValidationError,
)
from airflow_provider_smartlyq.operators.posts import post_idempotency_key
from airflow_provider_smartlyq.operators.smartlyq import (
    SmartlyQPublishPostOperator,
    SmartlyQValidatePostOperator,
)
from airflow_provider_smartlyq.waits import post_status


def context(run_id="manual__2025-01-01", map_index=-1, try_number=1) -> tuple[dict, dict]:
    pushed: dict = {}
    ti = SimpleNamespace(
        dag_id="campaign", run_id=run_id, task_id="publish", map_index=map_index, try_number=try_number,
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
    )  # fmt: skip
    return {"ti": ti}, pushed


def publish(**kwargs) -> SmartlyQPublishPostOperator:
    defaults = {
        "task_id": "publish",
        "content": "Summer sale",
        "account_ids": [101, 103],
        "poll_interval": 0.1,
    }
    return SmartlyQPublishPostOperator(**{**defaults, **kwargs})


@pytest.fixture
def emu(smartlyq_conn, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SMARTLYQ_DEFAULT", smartlyq_conn.connection_json(max_retries=1))
    smartlyq_conn.client.update_posts_settings(stage_seconds=0.05)
    return smartlyq_conn


def creates(emu) -> list[dict]:
    return [
        r for r in emu.client.requests() if r["method"] == "POST" and r["path"].startswith("/v1/social/posts")
    ]


# -- the derived key -------------------------------------------------------------------------


def test_derived_key_is_per_task_instance_not_per_try():
    key = post_idempotency_key("campaign", "manual__2025-01-01", "publish", -1)
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", key)
    assert key == post_idempotency_key("campaign", "manual__2025-01-01", "publish", -1)
    others = {
        post_idempotency_key("campaign", "manual__2025-01-02", "publish", -1),
        post_idempotency_key("campaign", "manual__2025-01-01", "publish", 0),
        post_idempotency_key("campaign", "manual__2025-01-01", "other", -1),
        post_idempotency_key("other", "manual__2025-01-01", "publish", -1),
    }
    assert key not in others
    assert len(others) == 4
    long = post_idempotency_key("d" * 250, "r" * 250, "t" * 250, 99999)
    assert len(long) <= 64


# -- exactly once ----------------------------------------------------------------------------


def test_publishes_and_pushes_post_id_and_urls(emu):
    ctx, pushed = context()

    result = publish().execute(ctx)

    assert result["status"] == "published"
    assert pushed["post_id"] == result["post_id"]
    assert (
        pushed["post_urls"]
        == result["post_urls"]
        == {
            "facebook": [f"https://facebook.com/acme/posts/{result['post_id']}"],
            "twitter": [f"https://x.com/acme_x/posts/{result['post_id']}"],
        }
    )
    assert pushed["post_url"] == result["url"] == result["post_urls"]["facebook"][0]
    (request,) = creates(emu)
    assert request["idempotency_key"] == post_idempotency_key("campaign", "manual__2025-01-01", "publish", -1)


def test_every_try_of_a_task_instance_replays_the_first_post(emu):
    results = [publish().execute(context(try_number=n)[0]) for n in (1, 2, 3)]

    assert len({r["post_id"] for r in results}) == 1
    state = emu.client.posts()
    assert len(state["posts"]) == 1
    assert len(state["charges"]) == 1
    assert [r["replay"] for r in creates(emu)] == [False, True, True]


def test_selection_order_does_not_change_the_body(emu):
    publish(account_ids=[101, 103]).execute(context()[0])
    publish(account_ids=["103", 101]).execute(context(try_number=2)[0])  # rendered differently

    assert [r["replay"] for r in creates(emu)] == [False, True]


def test_another_run_or_map_index_posts_anew(emu):
    publish(allow_duplicates=True).execute(context()[0])
    publish(allow_duplicates=True).execute(context(run_id="manual__2025-01-02")[0])
    publish(allow_duplicates=True).execute(context(map_index=3)[0])

    assert len(emu.client.posts()["charges"]) == 3


def test_a_user_given_key_posts_anew(emu):
    first = publish().execute(context()[0])
    second = publish(idempotency_key="campaign-v2", allow_duplicates=True).execute(context()[0])

    assert second["post_id"] != first["post_id"]
    assert len(emu.client.posts()["charges"]) == 2


def test_changed_content_on_a_retry_fails_instead_of_posting_twice(emu):
    publish(content="Version 1").execute(context()[0])
    with pytest.raises(SmartlyQIdempotencyConflictError):
        publish(content="Version 2").execute(context(try_number=2)[0])
    assert len(emu.client.posts()["posts"]) == 1


# -- outcomes --------------------------------------------------------------------------------


def test_partial_failure_fails_by_default_listing_errors(emu):
    emu.client.update_posts_settings(fail_platforms={"twitter": "X API is down"})
    ctx, pushed = context()

    with pytest.raises(SmartlyQPublishError, match="partially published: twitter: X API is down") as info:
        publish().execute(ctx)

    assert info.value.errors == {"twitter": "X API is down"}
    assert "re-publishes only its failed platforms" in str(info.value)  # what clearing will do
    assert list(pushed["post_urls"]) == ["facebook"]  # what did publish is still reported
    assert pushed["post_url"].startswith("https://facebook.com/")
    # The error survives pickling (Airflow ships it between processes), fields included ...
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.post_id, copy.status, copy.errors) == (
        info.value.post_id,
        post_status.PARTIAL,
        info.value.errors,
    )


def test_partial_failure_succeeds_with_a_warning_when_allowed(emu):
    emu.client.update_posts_settings(fail_platforms={"twitter": "X API is down"})

    result = publish(fail_on_partial=False).execute(context()[0])

    assert result["status"] == "partially_published"
    assert result["errors"] == {"twitter": "X API is down"}


def test_total_failure_fails_even_when_partial_is_allowed(emu):
    emu.client.update_posts_settings(fail_platforms=["facebook", "twitter"])
    with pytest.raises(SmartlyQPublishError, match="failed: facebook"):
        publish(fail_on_partial=False).execute(context()[0])


def test_retry_republishes_only_the_failed_platforms(emu):
    emu.client.update_posts_settings(fail_platforms={"twitter": "X API is down"})
    with pytest.raises(SmartlyQPublishError):
        publish().execute(context(try_number=1)[0])
    emu.client.update_posts_settings(fail_platforms={})  # X is back

    result = publish().execute(context(try_number=2)[0])

    assert result["status"] == "published"
    assert set(result["post_urls"]) == {"facebook", "twitter"}
    assert len(emu.client.posts()["charges"]) == 1
    retries = [r for r in emu.client.requests() if r["path"].endswith("/retry")]
    assert len(retries) == 1


def test_out_of_credits_is_a_typed_error_and_the_same_key_posts_after_a_top_up(emu, user_logs):
    emu.client.update_posts_settings(balance=0)
    with pytest.raises(SmartlyQInsufficientBalanceError):
        publish().execute(context()[0])
    assert user_logs.lines("set a new idempotency_key")  # what to do if SmartlyQ replays a 402

    emu.client.update_posts_settings(balance=10)  # topped up: clearing the task publishes
    result = publish().execute(context(try_number=2)[0])

    assert result["status"] == "published"
    assert len(emu.client.posts()["charges"]) == 1


def test_duplicate_content_is_a_typed_error_that_says_what_to_do(emu):
    first = publish().execute(context()[0])
    with pytest.raises(SmartlyQDuplicateContentError) as info:
        publish().execute(context(run_id="manual__2025-01-02")[0])
    error = info.value
    assert error.existing_post_id == first["post_id"]
    assert f"post {first['post_id']}" in str(error)
    assert "allow_duplicates=True" in str(error)
    assert "unique per run" in str(error)
    assert isinstance(error, AirflowFailException)  # no task retry: it would be refused again


def test_the_same_daily_text_posts_again_with_allow_duplicates(emu):
    publish().execute(context()[0])
    publish(allow_duplicates=True).execute(context(run_id="manual__2025-01-02")[0])
    assert len(emu.client.posts()["posts"]) == 2


# -- validate_first --------------------------------------------------------------------------


def test_validate_first_fails_fast_on_missing_media_and_creates_nothing(emu):
    # 102 is Acme Instagram: a text-only post cannot go there.
    with pytest.raises(AirflowFailException, match="instagram") as info:
        publish(account_ids=[101, 102], validate_first=True).execute(context()[0])
    assert "media" in str(info.value)
    assert emu.client.posts()["posts"] == []
    paths = [(r["method"], r["path"]) for r in emu.client.requests()]
    assert ("POST", "/v1/social/validate/post") in paths
    assert ("POST", "/v1/social/posts") not in paths


def test_validate_first_lets_a_valid_post_through_for_one_more_request(emu):
    result = publish(
        account_ids=[101, 102], validate_first=True, media_urls=["https://cdn.example.com/sale.jpg"]
    ).execute(context()[0])
    assert result["status"] == "published"
    paths = [(r["method"], r["path"]) for r in emu.client.requests()]
    assert paths.count(("POST", "/v1/social/validate/post")) == 1
    assert paths.index(("POST", "/v1/social/validate/post")) < paths.index(("POST", "/v1/social/posts"))


def test_without_validate_first_missing_media_is_a_422_that_fails_now(emu):
    with pytest.raises(SmartlyQValidationError, match="instagram") as info:
        publish(account_ids=[101, 102]).execute(context()[0])
    assert info.value.status_code == 422
    assert isinstance(info.value, AirflowFailException)


# -- scheduling, modes -------------------------------------------------------------------------


def test_scheduled_time_returns_once_accepted(emu):
    result = publish(scheduled_time="2099-03-01T10:00:00", timezone="Europe/Paris").execute(context()[0])
    assert result["status"] == "scheduled"
    assert result["scheduled_time"] == "2099-03-01T09:00:00Z"
    assert not [r for r in emu.client.requests() if r["method"] == "GET" and "/posts/" in r["path"]]


def test_queue_id_schedules_into_the_queue(emu):
    accepted = publish(queue_id="4").execute(context()[0])  # rendered templates are strings

    assert accepted["status"] == "scheduled"
    assert emu.client.posts()["posts"][0]["queue_id"] == 4


def test_deferrable_defers_after_creating_and_ends_like_the_worker(emu):
    emu.client.update_posts_settings(stage_seconds=1)
    ctx, pushed = context()
    operator = publish(deferrable=True, timeout=60)

    with pytest.raises(TaskDeferred) as info:
        operator.execute(ctx)

    classpath, kwargs = info.value.trigger.serialize()
    assert classpath.endswith(".PostPublishedTrigger")
    assert kwargs["post_id"] == pushed["post_id"]
    import asyncio

    async def run():
        trigger = info.value.trigger
        try:
            return [e async for e in trigger.run()]
        finally:
            await trigger.cleanup()

    (event,) = asyncio.run(run())
    deferred = operator.execute_complete(ctx, event.payload)
    emu.client.update_posts_settings(stage_seconds=0.05)
    in_worker = publish(deferrable=False, content="Other text").execute(context(run_id="r2")[0])
    assert {k: v for k, v in deferred.items() if k not in ("post_id", "post_urls", "url")} == {
        k: v for k, v in in_worker.items() if k not in ("post_id", "post_urls", "url")
    }
    assert set(deferred["post_urls"]) == set(in_worker["post_urls"])


def test_not_waiting_returns_the_accepted_post(emu):
    result = publish(wait_for_completion=False).execute(context()[0])
    assert result["status"] == "processing"


def test_timeout_in_the_worker_names_the_post(emu):
    emu.client.update_posts_settings(stage_seconds=10)
    with pytest.raises(Exception, match="still processing when the wait timed out"):
        publish(timeout=0.5).execute(context()[0])
    # Counted, not timed: 0.5 s polling every 0.1 s reads the post at most 0.5 / 0.1 + 1 times.
    reads = [r for r in emu.client.requests() if r["method"] == "GET" and "/social/posts/" in r["path"]]
    assert 1 <= len(reads) <= 6


# -- input checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"content": "   "},
        {"account_ids": None},
        {"scheduled_time": "2099-01-01T00:00:00Z", "queue_id": 3},
        {"idempotency_key": "not valid!"},
        {"poll_interval": 0},
    ],
)
def test_literal_mistakes_fail_at_parse_time(kwargs):
    with pytest.raises(SmartlyQValidationError):
        publish(**kwargs)


# -- validate ------------------------------------------------------------------------------------


def test_validate_passes_for_valid_content(emu):
    report = SmartlyQValidatePostOperator(task_id="v", content="Hi", account_ids=[101, 103]).execute(
        context()[0]
    )
    assert report["valid"] is True
    assert set(report["platforms"]) == {"facebook", "twitter"}
    assert emu.client.posts()["posts"] == []


def test_validate_fails_listing_each_platform_problem(emu):
    operator = SmartlyQValidatePostOperator(task_id="v", content="z" * 300, account_name_pattern="Acme *")
    with pytest.raises(AirflowFailException) as info:
        operator.execute(context()[0])
    message = str(info.value)
    assert "twitter: content is 300 characters; the limit is 280." in message
    assert "instagram: a post needs an image or a video" in message


def test_templated_media_urls_from_a_list_param_are_sent_as_a_list(emu):
    # Jinja renders a list param as its Python repr ("['https://...']"), not as a list.
    op = publish(media_urls="{{ params.media }}")
    op.render_template_fields({"params": {"media": ["https://cdn.example.com/a.png"]}})

    result = publish(media_urls=op.media_urls).execute(context()[0])

    assert result["status"] == "published"
    (post,) = emu.client.posts()["posts"]
    assert post["media_urls"] == ["https://cdn.example.com/a.png"]


def test_templated_platform_options_from_a_dict_param_are_sent_as_an_object(emu):
    # Jinja renders a dict param as its Python repr ("{'facebook': {...}}"), not as a dict.
    op = publish(platform_options="{{ params.options }}")
    op.render_template_fields({"params": {"options": {"facebook": {"content": "FB text"}}}})

    result = publish(platform_options=op.platform_options).execute(context()[0])
    # The same options given as a dict make the same body: SmartlyQ replays, no 409 conflict.
    again = publish(platform_options={"facebook": {"content": "FB text"}}).execute(context(try_number=2)[0])

    assert result["status"] == "published"
    assert again["post_id"] == result["post_id"]
    assert [r["replay"] for r in creates(emu)] == [False, True]
