"""
SmartlyQ's OpenAPI document as a test oracle: a response validator and the emulator's known deviations.

The spec wins for response shapes (``../shared/smartlyq-api/README.md``). Where the emulator
answers something the spec does not describe, the answer must match one entry of
:data:`SPEC_DEVIATIONS`, which says why; anything else fails. The conformance test
(``tests/emulator/test_emulator_openapi.py``) also fails when an entry is never exercised, so
the list cannot rot. Other contract tests (property-based ones too) read the same list.

Imported by a name unique in the tree (``from spec_support import ...``).
"""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import TYPE_CHECKING, Any

import jsonschema  # the dev extra: a missing validator must fail, only a missing spec may skip
import referencing
import referencing.jsonschema

if TYPE_CHECKING:
    from collections.abc import Callable

SPEC_URI = "urn:smartlyq:openapi-social"


@dataclasses.dataclass(frozen=True)
class Deviation:
    """
    One deliberate way the emulator's answer differs from what the spec documents.

    :param method: HTTP method.
    :param template: Spec path template without ``/v1`` (``/social/posts/{post_id}``).
    :param status: The status the emulator answers.
    :param code: ``error.code`` of that answer (``None`` for a success).
    :param validate_as: Documented status whose schema the body must still match (a replay
        answers 200 with the 201 body); ``None``: an error, validated as ``ErrorResponse``.
    :param absent_fields: Fields the spec lists for ``data`` (or for each item of a list)
        that this answer leaves out.
    :param applies: For ``absent_fields``: which ``data`` objects may leave them out (all when
        ``None``); any other object must carry every documented field.
    :param reason: Why the emulator does this (a SmartlyQ fact the spec does not carry).
    """

    method: str
    template: str
    status: int
    code: str | None
    reason: str
    validate_as: int | None = None
    absent_fields: frozenset[str] = frozenset()
    applies: Callable[[dict[str, Any]], bool] | None = dataclasses.field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str, int, str | None]:
        return (self.method, self.template, self.status, self.code)


_REPLAY = (
    "An idempotent replay answers 200 with the original post (said in the X-Idempotency-Key "
    "parameter's description, not in the responses)."
)
_IDEMPOTENCY_CONFLICT = (
    "Same X-Idempotency-Key with a different body: 409 IDEMPOTENCY_CONFLICT (API README; the "
    "spec documents the key but not this answer)."
)
_BAD_KEY = "An X-Idempotency-Key outside [A-Za-z0-9._:-]{1,64} is refused with 400 (the header's pattern)."
_NOT_YET_PUBLISHED = (
    "published_at is typed as a non-null date-time: a post that no platform has published yet "
    "(in flight, scheduled, failed) has no publication time, so the emulator leaves the field out."
)


def _unpublished(post: dict[str, Any]) -> bool:
    return post.get("status") not in ("published", "partially_published")


def _credential_connect(data: dict[str, Any]) -> bool:
    return "account" in data and "connect_url" not in data


def _not_yet_published(method: str, template: str, status: int) -> Deviation:
    return Deviation(
        method,
        template,
        status,
        None,
        _NOT_YET_PUBLISHED,
        absent_fields=frozenset({"published_at"}),
        applies=_unpublished,
    )


#: Every deliberate difference between the emulator's answers and the spec, with its reason.
SPEC_DEVIATIONS: tuple[Deviation, ...] = (
    Deviation(
        "GET",
        "/social/accounts",
        400,
        "BAD_REQUEST",
        "A non-integer X-Profile-Id is refused with 400 (API README: the header is an integer).",
    ),
    Deviation(
        "POST",
        "/social/connect/{platform}",
        400,
        "BAD_REQUEST",
        "A body that is not JSON is refused with 400 BAD_REQUEST (API README error codes).",
    ),
    Deviation(
        "POST",
        "/social/connect/{platform}",
        201,
        None,
        "Credential platforms (bluesky, telegram, whatsapp) connect at once and answer "
        "{platform, account} without a connect URL (seed page; the seed page wins for connect).",
        absent_fields=frozenset({"connect_url", "expires_at"}),
        applies=_credential_connect,
    ),
    Deviation(
        "GET",
        "/social/accounts/health",
        503,
        "SERVICE_UNAVAILABLE",
        "An injected edge fault (the emulator's fault control) answers 503 with Retry-After.",
    ),
    Deviation(
        "POST", "/social/accounts/{account_id}/pause", 409, "IDEMPOTENCY_CONFLICT", _IDEMPOTENCY_CONFLICT
    ),
    Deviation("POST", "/social/accounts/{account_id}/pause", 400, "VALIDATION_ERROR", _BAD_KEY),
    Deviation("POST", "/social/posts", 200, None, _REPLAY, validate_as=201),
    Deviation(
        "POST",
        "/social/posts",
        409,
        "IDEMPOTENCY_CONFLICT",
        _IDEMPOTENCY_CONFLICT + " Its documented 409 lists only DUPLICATE_CONTENT.",
    ),
    Deviation(
        "POST",
        "/social/posts",
        404,
        "RESOURCE_NOT_FOUND",
        "An account id that is not connected (or belongs to another profile) is answered 404, "
        "as every other account route answers an unknown id.",
    ),
    Deviation(
        "POST",
        "/social/posts/schedule",
        404,
        "RESOURCE_NOT_FOUND",
        "Scheduling shares the create path: an account id that is not connected (or belongs to "
        "another profile) is answered 404, as every other account route answers an unknown id.",
    ),
    Deviation(
        "POST",
        "/social/posts/schedule",
        409,
        "IDEMPOTENCY_CONFLICT",
        _IDEMPOTENCY_CONFLICT + " Its documented 409 lists only DUPLICATE_CONTENT.",
    ),
    Deviation(
        "DELETE",
        "/webhooks/{id}",
        422,
        "VALIDATION_ERROR",
        "A webhook id that is not an integer is refused with 422, as on every id route.",
    ),
    _not_yet_published("POST", "/social/posts", 201),
    _not_yet_published("POST", "/social/posts", 200),  # the replay of a post still in flight
    _not_yet_published("POST", "/social/posts/schedule", 201),
    _not_yet_published("GET", "/social/posts", 200),
    _not_yet_published("GET", "/social/posts/{post_id}", 200),
)


def path_shape(template: str) -> str:
    """Return a path template with its parameter names erased (the two sides name them differently)."""
    return re.sub(r"\{[^}]+\}", "{}", template)


def emulator_operations() -> set[tuple[str, str]]:
    """Return the emulator's public ``(METHOD, shape)`` pairs, read from its FastAPI routes."""
    from airflow_provider_smartlyq.emulator.app import create_app

    operations = set()
    for route in create_app().routes:
        path = getattr(route, "path", "")
        if path.startswith("/v1/"):
            operations |= {(m, path_shape(path.removeprefix("/v1"))) for m in getattr(route, "methods", ())}
    return operations


def deviations_for(method: str, template: str, status: int, code: str | None) -> list[Deviation]:
    """Return the recorded deviations for this answer (a status one and a fields one at most)."""
    return [d for d in SPEC_DEVIATIONS if d.key == (method, template, status, code)]


def nullable_to_json_schema(node: Any) -> Any:
    """
    Turn OpenAPI 3.0 ``nullable: true`` (used in this 3.1 document) into a JSON Schema null type.

    A nullable enum also gets ``None`` among its values: the document says what null means
    there (``publish_stage``: "null when the post is idle"), and JSON Schema would otherwise
    refuse null through the enum even though the type allows it.
    """
    if isinstance(node, dict):
        node = {k: nullable_to_json_schema(v) for k, v in node.items()}
        if node.pop("nullable", False):
            if isinstance(node.get("type"), str):
                node["type"] = [node["type"], "null"]
            if isinstance(node.get("enum"), list) and None not in node["enum"]:
                node["enum"] = [*node["enum"], None]
        return node
    if isinstance(node, list):
        return [nullable_to_json_schema(v) for v in node]
    return node


@dataclasses.dataclass(frozen=True)
class Checked:
    """What :meth:`SpecValidator.validate` decided about one answer."""

    method: str
    template: str
    status: int
    code: str | None
    #: The deviations this answer needed (empty when it matched the spec as documented).
    deviations: tuple[Deviation, ...]


class SpecValidator:
    """Resolve operations and responses of the spec and validate bodies against them."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = nullable_to_json_schema(copy.deepcopy(document))
        resource = referencing.Resource.from_contents(
            self.document, default_specification=referencing.jsonschema.DRAFT202012
        )
        self.registry = referencing.Registry().with_resource(SPEC_URI, resource)
        self.templates = [
            (re.compile("^/v1" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"), p) for p in self.document["paths"]
        ]

    def operations(self) -> set[tuple[str, str]]:
        """Return every ``(METHOD, template)`` the document describes."""
        methods = {"get", "post", "put", "patch", "delete"}
        return {(m.upper(), p) for p, item in self.document["paths"].items() for m in item if m in methods}

    def template(self, method: str, path: str) -> str:
        matches = [
            t for rx, t in self.templates if rx.match(path) and method.lower() in self.document["paths"][t]
        ]
        assert matches, f"{method} {path} is not in the spec"
        # Prefer literal segments (/social/accounts/health over /social/accounts/{account_id}).
        return min(matches, key=lambda t: t.count("{"))

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            pointer = node["$ref"].removeprefix("#/").split("/")
            node = self.document
            for part in pointer:
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _response(self, method: str, template: str, status: int) -> dict[str, Any] | None:
        responses = self.document["paths"][template][method.lower()]["responses"]
        response = responses.get(str(status))
        return None if response is None else self._resolve(response)

    def schema_pointer(self, method: str, template: str, status: int) -> str | None:
        """Return the JSON pointer of a documented response's schema (``None``: no body)."""
        responses = self.document["paths"][template][method.lower()]["responses"]
        response = responses[str(status)]
        if "$ref" in response:
            name = response["$ref"].rsplit("/", 1)[-1]
            assert "application/json" in self._resolve(response)["content"]
            return f"#/components/responses/{name}/content/application~1json/schema"
        if "content" not in response:
            return None
        escaped = template.replace("~", "~0").replace("/", "~1")
        return f"#/paths/{escaped}/{method.lower()}/responses/{status}/content/application~1json/schema"

    def validate(self, method: str, path: str, status: int, body: Any) -> Checked:
        """
        Validate one answer; return what was checked (and which deviation allowed it, if any).

        ``body`` is the parsed JSON, or ``None`` for an empty body. A status the operation does
        not document, or a documented field left out, must be a recorded deviation.
        """
        template = self.template(method, path)
        code = body["error"].get("code") if isinstance(body, dict) and body.get("success") is False else None
        candidates = deviations_for(method, template, status, code)
        statuses = [d for d in candidates if not d.absent_fields]
        fields = next((d for d in candidates if d.absent_fields), None)
        where = f"{method} {path} {status} {code or ''}".rstrip()
        used: list[Deviation] = []
        # A recorded deviation comes first: it also covers a documented status whose documented
        # body cannot say this (409 on posts documents only DUPLICATE_CONTENT).
        if statuses and statuses[0].validate_as is not None:
            pointer = self.schema_pointer(method, template, statuses[0].validate_as)
            used.append(statuses[0])
        elif statuses and status >= 400:
            pointer = "#/components/schemas/ErrorResponse"
            used.append(statuses[0])
        elif self._response(method, template, status) is not None:
            pointer = self.schema_pointer(method, template, status)
        else:
            raise AssertionError(f"{where}: the spec does not document it and no deviation says why")
        if pointer is None:
            assert body is None, f"{where}: the spec documents no body"
        else:
            validator = jsonschema.Draft202012Validator({"$ref": SPEC_URI + pointer}, registry=self.registry)
            errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
            assert not errors, f"{where}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors)
            if self._check_documented_fields(pointer, body, where, fields):
                used.append(fields)  # type: ignore[arg-type]  # only True when fields is set
        return Checked(method, template, status, code, tuple(used))

    def _check_documented_fields(
        self, pointer: str, body: Any, where: str, deviation: Deviation | None
    ) -> bool:
        """
        Check that ``data`` (or each item of a list) carries every field the spec lists.

        The spec marks no field required; the emulator still answers each one, except where a
        deviation says why not. Return whether the deviation's ``absent_fields`` were needed.
        """
        if body.get("success") is False:
            assert set(body["error"]) == {"code", "message", "details"}, where
        schema = self._resolve({"$ref": pointer})
        data_schema = self._resolve(schema.get("properties", {}).get("data", {}))
        data = body.get("data")
        if isinstance(data, list) and data_schema.get("type") == "array":
            data_schema, objects = self._resolve(data_schema.get("items", {})), data
        else:
            objects = [data]
        if data_schema.get("type") != "object":
            return False
        expected = set(data_schema.get("properties", {}))
        used = False
        for item in objects:
            if not isinstance(item, dict):
                continue
            missing = expected - set(item)
            excused = bool(
                deviation is not None
                and missing <= deviation.absent_fields
                and (deviation.applies is None or deviation.applies(item))
            )
            assert not missing or excused, f"{where}: data lacks {sorted(missing)}"
            used = used or bool(missing)
        return used
