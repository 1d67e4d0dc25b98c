"""
Publish to SmartlyQ exactly once per task instance.

Import :class:`SmartlyQPublishPostOperator` from :mod:`airflow_provider_smartlyq.operators.smartlyq`.
The hook and the trigger (and their HTTP libraries) are imported inside the methods that use
them, so DAG files parse fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq._compat import AirflowFailException
from airflow_provider_smartlyq._tasks import arguments
from airflow_provider_smartlyq._tasks.selection import (
    SELECTION_TEMPLATE_FIELDS,
    AccountSelectionMixin,
    is_templated,
)
from airflow_provider_smartlyq._tasks.task import (
    SmartlyQOperator,
    WaitingOperator,
    idempotency_key,
    task_idempotency_key,
    task_method,
)
from airflow_provider_smartlyq.links import SmartlyQPostLink

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from airflow.sdk import Context

    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

__all__ = ["SmartlyQPublishPostOperator", "post_idempotency_key"]

#: Appended to the error of a failed or partial post when a retry re-publishes failed platforms.
RETRY_HINT = (
    "Fix the cause, then clear the task: the retry replays this post and re-publishes only "
    "its failed platforms."
)


def post_idempotency_key(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """
    Return the ``X-Idempotency-Key`` a publish task instance sends when given none.

    It depends on the DAG, the run, the task and the map index, NOT on the try number: every
    retry and every clear of the same task instance sends the same key, so SmartlyQ replays
    the post it created the first time instead of publishing again. 56 characters of
    ``[A-Za-z0-9:]``.
    """
    return idempotency_key("post", dag_id, run_id, task_id, map_index)


def platforms_and_ids(accounts: Iterable[Mapping[str, Any]]) -> tuple[list[int], list[str]]:
    """Return the account ids (sorted) and their platforms in that order: a stable body across tries."""
    from airflow_provider_smartlyq.core.validation import normalize_platforms

    ordered = sorted(accounts, key=lambda a: int(a["id"]))
    ids = [int(a["id"]) for a in ordered]
    return ids, normalize_platforms([str(a.get("platform")) for a in ordered]) or []


def check_literal_content(content: object) -> None:
    """
    Refuse missing or blank literal content when the DAG is parsed (templates are checked at run).

    :raises SmartlyQValidationError: ``content`` is ``None`` or blank text.
    """
    from airflow_provider_smartlyq.exceptions import SmartlyQValidationError

    if content is None or (isinstance(content, str) and not is_templated(content) and not content.strip()):
        raise SmartlyQValidationError.local("content must be non-empty text")


def _problems(report: Mapping[str, Any]) -> list[str]:
    """Return SmartlyQ's ``errors``, or ones built from the per-platform rows when it sent none."""
    if errors := [str(e) for e in report.get("errors") or []]:
        return errors
    problems = []
    for platform, row in sorted(dict(report.get("platforms") or {}).items()):
        if not row.get("within_limit", True):
            problems.append(f"{platform}: {row.get('characters')} characters, limit {row.get('limit')}")
        if not row.get("media_ok", True):
            problems.append(f"{platform}: media missing or of an unsupported type")
    return problems or ["SmartlyQ reported the post invalid without saying why"]


def judge_report(report: Mapping[str, Any], platforms: list[str], log: Any) -> dict[str, Any]:
    """
    Log a validation report per platform; return it when valid, else fail listing every problem.

    Shared by ``SmartlyQValidatePostOperator`` and the publish operator's ``validate_first``.

    :raises AirflowFailException: the post does not pass (no task retry: the same content would
        fail again).
    """
    rows = report.get("platforms") or {}
    for platform in platforms:
        row = rows.get(platform) or {}
        log.info(
            "%s: %s characters (limit %s), media %s",
            platform,
            row.get("characters"),
            row.get("limit") if row.get("limit") is not None else "none",
            "ok" if row.get("media_ok", True) else "MISSING",
        )
    if report.get("valid"):
        log.info("The post passes SmartlyQ's checks for %s", ", ".join(platforms))
        return dict(report)
    raise AirflowFailException(
        "The post does not pass SmartlyQ's checks:\n" + "\n".join(f"  - {p}" for p in _problems(report))
    )


class _PostOperator(AccountSelectionMixin, SmartlyQOperator):
    """
    What the validate and publish operators share: a post for the selected accounts, and its dry run.

    Literal mistakes (no content, no selection criterion) fail when the DAG is parsed;
    templated values are checked in ``execute``.
    """

    def __init__(
        self,
        *,
        content: str,
        media_urls: str | list[str] | None = None,
        account_ids: Any = None,
        platforms: Any = None,
        account_name_pattern: str | None = None,
        all_accounts: Any = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._init_selection(account_ids, platforms, account_name_pattern, all_accounts)
        check_literal_content(content)
        self.content = content
        self.media_urls = media_urls

    def media(self) -> list[str] | None:
        """Return the rendered ``media_urls`` as a list, ``None`` when there are none."""
        from airflow_provider_smartlyq.core.values import parse_list

        # A list param renders as its repr ("['https://...']"): read it back as a list.
        return parse_list(self.media_urls, split=False) or None

    def check_with_smartlyq(self, hook: SmartlyQHook, platforms: list[str]) -> dict[str, Any]:
        """Validate the post for ``platforms`` (free): return the report, or fail listing every problem."""
        return judge_report(hook.validate_post(self.content, platforms, self.media()), platforms, self.log)


class SmartlyQPublishPostOperator(_PostOperator, WaitingOperator):
    """
    Publish (or schedule) one post to the selected accounts, exactly once per task instance.

    Accounts are chosen like every multi-account operator (``account_ids``, ``platforms``,
    ``account_name_pattern``, ``all_accounts``; resolved with one ``GET /social/accounts``),
    and the post goes to their platforms. The request carries an ``X-Idempotency-Key``
    derived from the DAG, run, task and map index (see :func:`post_idempotency_key`): a
    retried or cleared task replays the post it created before (SmartlyQ remembers keys for
    24 hours) instead of publishing twice. To publish anew on purpose, pass your own key.

    With ``wait_for_completion`` the task then waits until publishing has finished: deferred
    to :class:`~airflow_provider_smartlyq.triggers.smartlyq.PostPublishedTrigger` when
    ``deferrable``, else polling in the worker. Both end the same way:

    * ``published``: returns ``{post_id, status, post_urls, errors, url}``;
    * ``partially_published``: fails listing each platform's error, or (``fail_on_partial=False``)
      succeeds with a warning;
    * ``failed``: fails listing each platform's error
      (:class:`~airflow_provider_smartlyq.exceptions.SmartlyQPublishError`). A retry of the task
      replays the post and, with ``retry_failed_platforms``, asks SmartlyQ to re-publish only the
      failed platforms (``POST /social/posts/{id}/retry``): never the ones that succeeded.

    XCom: ``post_id`` (as soon as the post exists), ``post_urls`` (``{platform: [url]}``) and
    ``post_url`` (the first URL, also the task's "SmartlyQ post" button).

    Scheduled posts (``scheduled_time`` or ``queue_id``) return once SmartlyQ has accepted them;
    wait for their publication with
    :class:`~airflow_provider_smartlyq.sensors.smartlyq.SmartlyQPostStatusSensor`.

    Keep the body the same across tries: a content template that changes (``{{ ti.try_number }}``,
    the current time) or a selection that matches other accounts on the retry makes SmartlyQ
    answer ``409 IDEMPOTENCY_CONFLICT``, and the task fails rather than post a second version.

    :param content: The text. Templated.
    :param account_ids: Accounts to post to. Templated, like the next three.
    :param platforms: Post to the selected accounts on these platforms.
    :param account_name_pattern: Post to accounts whose name matches this glob, e.g. ``"Acme *"``.
    :param all_accounts: Post to every account (must be explicit).
    :param media_urls: Images or videos to attach. Templated.
    :param link: URL to include. Templated.
    :param platform_options: Per-platform options, e.g. ``{"instagram": {"content": "..."}}``. Templated.
    :param allow_duplicates: Skip SmartlyQ's 24-hour duplicate-content guard (a daily post with
        the same text needs it, or a text made unique per run: see the publishing how-to).
    :param validate_first: Run SmartlyQ's free dry run (``POST /social/validate/post``) before
        creating the post, and fail at once, listing every problem, when it does not pass
        (missing media on Instagram, TikTok, YouTube or Pinterest, text over a limit). Costs one
        more request per try, no credits.
    :param scheduled_time: Publish at this time (aware datetime or ISO string, or naive with
        ``timezone``). Templated.
    :param timezone: IANA zone of a naive ``scheduled_time``. Templated.
    :param queue_id: Schedule into this posting queue's next slot instead. Templated.
    :param idempotency_key: Your own replay key; default: derived from the task instance. Templated.
    :param timeout: Seconds to wait for publishing before failing (default 1800).
    :param fail_on_partial: Fail when some platforms failed (default); else succeed with a warning.
    :param retry_failed_platforms: On a retry that replays a failed or partial post, re-publish
        its failed platforms.

    The connection and the wait are the arguments of every SmartlyQ operator that waits
    (``smartlyq_conn_id``, ``wait_for_completion``, ``deferrable``, ``poll_interval``: see
    "Arguments every operator takes"); only an immediate post is waited for.
    """

    template_fields: Sequence[str] = (
        "content",
        *SELECTION_TEMPLATE_FIELDS,
        "media_urls",
        "link",
        "platform_options",
        "scheduled_time",
        "timezone",
        "queue_id",
        "idempotency_key",
    )
    template_fields_renderers = {"platform_options": "json"}
    operator_extra_links = (SmartlyQPostLink(),)
    ui_color = "#ffe8cc"
    argument_checks = {"idempotency_key": arguments.idempotency_key}

    def __init__(
        self,
        *,
        content: str,
        account_ids: Any = None,
        platforms: Any = None,
        account_name_pattern: str | None = None,
        all_accounts: Any = False,
        media_urls: str | list[str] | None = None,
        link: str | None = None,
        platform_options: dict[str, Any] | None = None,
        allow_duplicates: bool = False,
        validate_first: bool = False,
        scheduled_time: Any = None,
        timezone: str | None = None,
        queue_id: int | str | None = None,
        idempotency_key: str | None = None,
        timeout: float = 30 * 60,
        fail_on_partial: bool = True,
        retry_failed_platforms: bool = True,
        **kwargs: Any,
    ) -> None:
        from airflow_provider_smartlyq.exceptions import SmartlyQValidationError

        super().__init__(
            content=content,
            media_urls=media_urls,
            account_ids=account_ids,
            platforms=platforms,
            account_name_pattern=account_name_pattern,
            all_accounts=all_accounts,
            timeout=timeout,
            **kwargs,
        )
        if scheduled_time is not None and queue_id is not None:
            raise SmartlyQValidationError.local("pass scheduled_time or queue_id, not both")
        self.link = link
        self.platform_options = platform_options
        self.allow_duplicates = allow_duplicates
        self.validate_first = bool(validate_first)
        self.scheduled_time = scheduled_time
        self.timezone = timezone
        self.queue_id = queue_id
        self.store_arguments(idempotency_key=idempotency_key)
        self.fail_on_partial = fail_on_partial
        self.retry_failed_platforms = retry_failed_platforms

    def _scheduled(self) -> bool:
        return bool(self.scheduled_time) or self.queue_id not in (None, "")

    @task_method
    def execute(self, context: Context) -> dict[str, Any]:
        """Create (or replay) the post, then wait for it to publish when asked to."""
        from airflow_provider_smartlyq.waits.post_status import check_post

        # One key for every try and clear of this task instance: a retry replays the post.
        key = self.checked("idempotency_key") or task_idempotency_key(context, "post", per_try=False)
        hook = self.hook
        account_ids, platforms = platforms_and_ids(self.select_accounts(hook)[1])
        if self.validate_first:
            self.check_with_smartlyq(hook, platforms)
        post = self._create(hook, account_ids, platforms, key)
        post_id = int(post["id"])
        context["ti"].xcom_push(key="post_id", value=post_id)
        replay = bool(post.get("idempotent_replay"))
        if replay:
            self.log.info(
                "SmartlyQ replayed post %s: this task instance created it on an earlier try "
                "(idempotency key %s), so nothing was published again",
                post_id,
                key,
            )
        else:
            self.log.info(
                "Created post %s for %d account(s) on %s", post_id, len(account_ids), ", ".join(platforms)
            )
        if self._scheduled() or not self.wait_for_completion:
            return self._accepted(post)
        last_status: str | None = None

        def check(pacer: Any) -> dict[str, Any] | None:
            nonlocal last_status, replay
            event, status = check_post(hook, post_id, self.log, pacer)
            if status is not None and status != last_status:
                self.log.info("Post %s is %s", post_id, status)
                last_status = status
            if event is not None and replay:  # a replayed post's first answer is an earlier try's outcome
                event = self._retry_failed(hook, context, post_id, event)
            replay = False
            return event

        event = self.wait(
            "PostPublishedTrigger",
            post_id,
            check,
            timeout_event=lambda: {"status": "timeout", "post_id": post_id, "last_status": last_status},
        )
        return self.execute_complete(context, event)

    def _create(
        self, hook: SmartlyQHook, account_ids: list[int], platforms: list[str], key: str | None
    ) -> Any:
        from airflow_provider_smartlyq.core.values import parse_bool, parse_mapping
        from airflow_provider_smartlyq.exceptions import (
            SmartlyQIdempotencyConflictError,
            SmartlyQInsufficientBalanceError,
        )

        try:
            return hook.create_post(
                self.content,
                account_ids,
                platforms=platforms,
                media_urls=self.media(),
                link=self.link or None,
                platform_options=parse_mapping(self.platform_options) or None,
                allow_duplicates=parse_bool(self.allow_duplicates, "allow_duplicates", default=False),
                scheduled_time=self.scheduled_time or None,
                timezone=self.timezone or None,
                queue_id=self.queue_id if self.queue_id not in (None, "") else None,
                idempotency_key=key,
            )
        except SmartlyQInsufficientBalanceError as exc:
            # Whether SmartlyQ remembers a 402 under the key is not documented: if it does, a
            # clear after the top-up would get the same 402 back until the key expires.
            self.log.error(
                "SmartlyQ refused the post: the workspace is out of credits (%s). Top up, then clear "
                "this task. If the cleared task still fails with 402 after the top-up, SmartlyQ is "
                "replaying its first answer to this task instance's key (%s): set a new "
                "idempotency_key (nothing was posted under the old one) and clear the task again.",
                exc.details or "no details",
                key,
            )
            raise
        except SmartlyQIdempotencyConflictError:
            self.log.error(
                "This task instance already created a post with a DIFFERENT body (content, accounts or "
                "options changed since its first try; key %s). SmartlyQ keeps the first post. To publish "
                "the new version as a second post, pass your own idempotency_key.",
                key,
            )
            raise

    def _accepted(self, post: Mapping[str, Any]) -> dict[str, Any]:
        status = post.get("status")
        self.log.info(
            "Post %s accepted (%s, scheduled for %s); not waiting for publication",
            post.get("id"),
            status,
            post.get("scheduled_time") if self._scheduled() else "now",
        )
        return {
            "post_id": post.get("id"),
            "status": status,
            "scheduled_time": post.get("scheduled_time"),
            "post_urls": {},
            "errors": {},
            "url": None,
        }

    def _retry_failed(
        self, hook: SmartlyQHook, context: Context, post_id: int, event: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Re-publish the failed platforms of a replayed post; return its new final event (or None)."""
        from airflow_provider_smartlyq.waits.post_status import FAILED, PARTIAL, check_post

        failed = sorted(p for p in event.get("errors") or {} if not p.startswith("_"))
        if not self.retry_failed_platforms or event.get("status") not in (FAILED, PARTIAL) or not failed:
            return event
        self.log.warning(
            "Post %s had failed on %s; asking SmartlyQ to retry those platforms", post_id, ", ".join(failed)
        )
        # One re-publication per try, even if the request is sent again.
        answer = hook.retry_post(post_id, failed, idempotency_key=task_idempotency_key(context, "retry"))
        self.log.info("Retry of post %s: %s", post_id, answer.get("final_status"))
        new_event, _ = check_post(hook, post_id, self.log)
        return new_event

    @task_method
    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Push the post's URLs; return the result, or fail with each platform's error."""
        from airflow_provider_smartlyq.waits.post_status import push_post_xcoms, result_from_event

        push_post_xcoms(self, context["ti"], event)
        hint = RETRY_HINT if self.retry_failed_platforms else ""
        return result_from_event(event, fail_on_partial=self.fail_on_partial, log=self.log, hint=hint)
