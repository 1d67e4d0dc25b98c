"""Validate the emulator's answers against SmartlyQ's published OpenAPI document."""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import jsonschema  # the dev extra: a missing validator must fail, only a missing spec skips
import pytest
import referencing
import referencing.jsonschema
import requests

SPEC_URI = "urn:smartlyq:openapi-social"

#: Spec paths (without /v1) the emulator implements, by method.
IMPLEMENTED = {
    ("GET", "/me"),
    ("GET", "/social/accounts"),
    ("GET", "/social/accounts/health"),
    ("PATCH", "/social/accounts/{account_id}"),
    ("DELETE", "/social/accounts/{account_id}"),
    ("GET", "/social/accounts/{account_id}/health"),
    ("GET", "/social/accounts/{account_id}/reconnect-url"),
    ("POST", "/social/accounts/{account_id}/pause"),
    ("POST", "/social/accounts/{account_id}/resume"),
    ("POST", "/social/connect/{platform}"),
    ("GET", "/social/connect/{platform}"),
}


@pytest.fixture(scope="module")
def spec(openapi_spec) -> dict[str, Any]:
    return openapi_spec


def _nullable_to_json_schema(node: Any) -> Any:
    """Turn OpenAPI 3.0 ``nullable: true`` (used in this 3.1 document) into a JSON Schema null type."""
    if isinstance(node, dict):
        node = {k: _nullable_to_json_schema(v) for k, v in node.items()}
        if node.pop("nullable", False) and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        return node
    if isinstance(node, list):
        return [_nullable_to_json_schema(v) for v in node]
    return node


class SpecValidator:
    """Resolve operations and responses of the spec and validate bodies against them."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = _nullable_to_json_schema(copy.deepcopy(document))
        resource = referencing.Resource.from_contents(
            self.document, default_specification=referencing.jsonschema.DRAFT202012
        )
        self.registry = referencing.Registry().with_resource(SPEC_URI, resource)
        self.templates = [
            (re.compile("^/v1" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"), p) for p in self.document["paths"]
        ]

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

    def schema_pointer(self, method: str, template: str, status: int) -> tuple[str, bool]:
        """Return the JSON pointer of the response schema and whether the status is documented."""
        responses = self.document["paths"][template][method.lower()]["responses"]
        if str(status) not in responses:
            assert status >= 400, f"{method} {template}: success status {status} is not documented"
            return "#/components/schemas/ErrorResponse", False
        response = responses[str(status)]
        if "$ref" in response:
            name = response["$ref"].rsplit("/", 1)[-1]
            assert "application/json" in self._resolve(response)["content"]
            return f"#/components/responses/{name}/content/application~1json/schema", True
        escaped = template.replace("~", "~0").replace("/", "~1")
        return f"#/paths/{escaped}/{method.lower()}/responses/{status}/content/application~1json/schema", True

    def validate(self, method: str, path: str, status: int, body: Any) -> bool:
        template = self.template(method, path)
        pointer, documented = self.schema_pointer(method, template, status)
        validator = jsonschema.Draft202012Validator({"$ref": SPEC_URI + pointer}, registry=self.registry)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        assert not errors, f"{method} {path} {status}: " + "; ".join(
            f"{list(e.path)}: {e.message}" for e in errors
        )
        self.check_documented_fields(pointer, body, f"{method} {path} {status}")
        return documented

    def check_documented_fields(self, pointer: str, body: Any, where: str) -> None:
        """Check that ``data`` carries every field the spec lists (the spec marks none required)."""
        schema = self._resolve({"$ref": pointer})
        data_schema = self._resolve(schema.get("properties", {}).get("data", {}))
        data = body.get("data")
        if isinstance(data, dict) and data_schema.get("type") == "object":
            expected = set(data_schema.get("properties", {}))
            if "account" in data and "connect_url" in expected:
                expected = {"platform"}  # credential connect answers {platform, account} (seed page)
            assert expected <= set(data), f"{where}: data lacks {sorted(expected - set(data))}"
        if body.get("success") is False:
            assert set(body["error"]) == {"code", "message", "details"}, where


def test_nullable_is_converted():
    assert _nullable_to_json_schema({"type": "object", "nullable": True}) == {"type": ["object", "null"]}


def test_every_implemented_operation_validates(spec, smartlyq_emulator):
    validator = SpecValidator(spec)
    emu = smartlyq_emulator
    auth = {"Authorization": f"Bearer {emu.api_key}"}
    seen: set[tuple[str, str]] = set()
    undocumented: list[str] = []

    def hit(
        method: str, path: str, expected: int, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Any:
        response = requests.request(
            method, emu.api_url + path, headers={**auth, **(headers or {})}, timeout=10, **kwargs
        )
        assert response.status_code == expected, f"{method} {path}: {response.status_code} {response.text}"
        body = response.json()
        if not validator.validate(method, "/v1" + path, response.status_code, body):
            undocumented.append(f"{method} {path} {response.status_code} {body['error']['code']}")
        seen.add((method, validator.template(method, "/v1" + path)))
        return body

    # Successes.
    hit("GET", "/me", 200)
    hit("GET", "/social/accounts", 200)
    hit("GET", "/social/accounts", 200, headers={"X-Profile-Id": "42"})
    hit("GET", "/social/accounts/health", 200)
    hit("GET", "/social/accounts/101/health", 200)
    hit("GET", "/social/accounts/104/health", 200)
    hit("GET", "/social/accounts/104/reconnect-url", 200)
    hit("POST", "/social/accounts/101/pause", 200)
    hit("POST", "/social/accounts/101/pause", 200, headers={"X-Idempotency-Key": "p1"})
    hit("POST", "/social/accounts/101/pause", 200, headers={"X-Idempotency-Key": "p1"})  # replay
    hit("POST", "/social/accounts/101/resume", 200)
    hit("PATCH", "/social/accounts/102", 200, json={"account_name": "Acme IG"})
    started = hit("POST", "/social/connect/facebook", 201, json={"return_url": "https://app.example/cb"})
    token = parse_qs(urlparse(started["data"]["connect_url"]).query)["state"][0]
    hit("GET", f"/social/connect/{token}", 200)
    emu.client.approve_connect(token)
    hit("GET", f"/social/connect/{token}", 200)
    hit(
        "POST",
        "/social/connect/bluesky",
        201,
        json={"identifier": "a.bsky.social", "app_password": "a-b-c-d"},
    )
    hit("DELETE", "/social/accounts/103", 200)

    # Errors.
    hit("GET", "/me", 401, headers={"Authorization": ""})
    hit("GET", "/social/accounts", 401, headers={"Authorization": "Bearer sqk_test_wrong"})
    hit("GET", "/social/accounts/health", 401, headers={"Authorization": "Bearer sqk_test_wrong"})
    hit("GET", "/social/accounts", 400, headers={"X-Profile-Id": "x"})
    hit("GET", "/social/accounts/999/health", 404)
    hit("GET", "/social/accounts/999/reconnect-url", 404)
    hit("POST", "/social/accounts/999/pause", 404)
    hit("POST", "/social/accounts/abc/resume", 422)
    hit("DELETE", "/social/accounts/abc", 422)
    hit("PATCH", "/social/accounts/999", 404, json={"account_name": "x"})
    hit("PATCH", "/social/accounts/101", 422, json={"account_name": ""})
    hit("POST", "/social/connect/myspace", 422)
    hit("POST", "/social/connect/telegram", 422, json={"bot_token": "1:A"})
    hit("POST", "/social/connect/facebook", 400, data=b"{", headers={"Content-Type": "application/json"})
    hit("GET", "/social/connect/no-such-token", 404)
    hit("POST", "/social/accounts/101/pause", 409, headers={"X-Idempotency-Key": "p1"}, json={"x": 1})
    hit("POST", "/social/accounts/101/pause", 400, headers={"X-Idempotency-Key": "bad key"})
    emu.client.inject_fault("/v1/social/accounts/health", status=503, retry_after=3)
    hit("GET", "/social/accounts/health", 503)

    assert seen == IMPLEMENTED
    # Statuses the spec does not list for an operation (validated against ErrorResponse instead).
    assert set(undocumented) == {
        "GET /social/accounts 400 BAD_REQUEST",
        "POST /social/connect/facebook 400 BAD_REQUEST",
        "GET /social/accounts/health 503 SERVICE_UNAVAILABLE",
        "POST /social/accounts/101/pause 409 IDEMPOTENCY_CONFLICT",
        "POST /social/accounts/101/pause 400 VALIDATION_ERROR",
    }


def test_connect_not_enabled_and_not_configured_validate(spec):
    from airflow_provider_smartlyq.testing.emulator import run_emulator

    validator = SpecValidator(spec)
    for config, status in [
        ({"headless_connect_enabled": False}, 404),
        ({"unconfigured_platforms": {"gmb"}}, 422),
    ]:
        with run_emulator(**config) as emu:
            response = requests.post(
                emu.api_url + "/social/connect/gmb",
                headers={"Authorization": f"Bearer {emu.api_key}"},
                timeout=10,
            )
            assert response.status_code == status
            assert validator.validate("POST", "/v1/social/connect/gmb", status, response.json())
