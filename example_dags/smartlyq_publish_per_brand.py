"""
Publish one post per brand with dynamic task mapping (``.expand()``).

``publish`` is mapped over the brands: one task instance per brand, each selecting that
brand's accounts by name pattern and publishing once. Every mapped instance derives its own
idempotency key (the map index is part of it), so retrying one brand never re-posts another.

Run it: ``airflow dags test smartlyq_publish_per_brand``
(``-c '{"brands": ["Acme *"]}'`` publishes for one brand only).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_smartlyq.operators.smartlyq import SmartlyQPublishPostOperator

with DAG(
    dag_id="smartlyq_publish_per_brand",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["smartlyq", "example"],
    params={
        "brands": Param(
            ["Acme *", "Globex *"], type="array", description="Account name patterns, one per brand"
        ),
        "message": Param("Our summer collection is live!", type="string"),
    },
) as dag:

    @task
    def brands(params: dict[str, Any]) -> list[str]:
        """Return the brands to publish for (a task, so the list can come from anywhere)."""
        return list(params["brands"])

    # --8<-- [start:howto_publish_per_brand]
    publish = SmartlyQPublishPostOperator.partial(
        task_id="publish",
        content="{{ params.message }}",
        platforms=["facebook", "x", "youtube", "threads"],  # the channels of this campaign
        media_urls=["https://cdn.example.com/summer.mp4"],  # YouTube needs a video
        allow_duplicates=True,  # the same text goes to every brand on purpose
        deferrable=True,
        poll_interval=2,
        retries=2,
    ).expand(account_name_pattern=brands())
    # --8<-- [end:howto_publish_per_brand]

    @task
    def report(results: list[dict[str, Any]]) -> dict[str, list[str]]:
        """Print each brand's post URLs; return them by post id."""
        # One request for every mapped result. (A plain ``for`` over the lazy sequence reads
        # item after item until one is missing, and Airflow logs that last miss at error level.)
        results = list(results[:])
        urls = {str(r["post_id"]): [u for us in r["post_urls"].values() for u in us] for r in results}
        for post_id, post_urls in urls.items():
            print(f"Post {post_id}: {', '.join(post_urls)}")
        return urls

    report(publish.output)
