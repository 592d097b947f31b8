"""GET /v1/schema (OpenAPI 3) and GET /v1/docs (Swagger UI with locally served assets)."""

import json
import re
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

import jsonschema
import pytest
import yaml
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from tests.analytics.helpers import SESSION_FIELDS

ANALYTICS_GETS = [
    "/v1/analytics/sessions",
    "/v1/analytics/sessions/{session_id}",
    "/v1/analytics/sessions/{session_id}/timeline",
    "/v1/analytics/session-metrics",
    "/v1/analytics/costs",
    "/v1/analytics/events",
]
INGEST_POSTS = ["/v1/events", "/v1/events/batch"]
LISTS = {
    "/v1/analytics/sessions",
    "/v1/analytics/costs",
    "/v1/analytics/events",
}


@pytest.fixture
def schema(db: None) -> dict[str, Any]:
    response = APIClient().get("/v1/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content[:500]
    document: dict[str, Any] = json.loads(response.content)
    return document


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = document["components"]["schemas"][name]
    return schema


def test_schema_needs_no_key_and_is_valid_openapi_3(db: None) -> None:
    response = APIClient().get("/v1/schema")  # the default rendering is YAML
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    document = yaml.safe_load(response.content)
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"]
    validate_schema(document)  # against the OpenAPI 3 JSON schema; raises when invalid


def test_schema_lists_every_endpoint(schema: dict[str, Any]) -> None:
    for path in ANALYTICS_GETS:
        assert "get" in schema["paths"].get(path, {}), path
    for path in INGEST_POSTS:
        assert "post" in schema["paths"].get(path, {}), path


def test_every_operation_requires_the_bearer_key(schema: dict[str, Any]) -> None:
    schemes = schema["components"]["securitySchemes"]
    bearer = [name for name, s in schemes.items() if (s["type"], s.get("scheme")) ==
              ("http", "bearer")]  # fmt: skip
    assert len(bearer) == 1, schemes
    for path in ANALYTICS_GETS + INGEST_POSTS:
        for operation in schema["paths"][path].values():
            # Only the key: no anonymous alternative ({}) next to it.
            assert operation["security"] == [{bearer[0]: []}], (path, operation["security"])


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("/v1/analytics/sessions",
         {"entity_type", "entity_id", "start_date", "end_date", "tz", "model", "tag", "min_cost",
          "min_turns", "order_by", "cursor", "limit", "format"}),
        ("/v1/analytics/session-metrics",
         {"entity_type", "entity_id", "start_date", "end_date", "tz", "model", "tag", "min_cost",
          "min_turns", "interval"}),
        ("/v1/analytics/costs",
         {"entity_type", "entity_id", "start_date", "end_date", "tz", "model", "tag", "group_by",
          "cursor", "limit", "format"}),
        ("/v1/analytics/events",
         {"entity_type", "entity_id", "start_date", "end_date", "tz", "model", "tag", "cursor",
          "limit"}),
        ("/v1/analytics/sessions/{session_id}", {"session_id", "cursor", "limit"}),
        ("/v1/analytics/sessions/{session_id}/timeline", {"session_id", "cursor", "limit"}),
    ],
)  # fmt: skip
def test_query_parameters_are_documented(
    schema: dict[str, Any], path: str, names: set[str]
) -> None:
    documented = {p["name"] for p in schema["paths"][path]["get"]["parameters"]}
    assert names <= documented, names - documented
    order_by = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "order_by"]
    if order_by:
        assert set(order_by[0]["schema"]["enum"]) == {
            f"{sign}{f}" for sign in ("", "-")
            for f in ("last_seen", "first_seen", "total_cost", "turn_count", "session_id")
        }  # fmt: skip


def test_error_responses_are_documented(schema: dict[str, Any]) -> None:
    for path in ANALYTICS_GETS:
        responses = schema["paths"][path]["get"]["responses"]
        assert {"200", "400", "401", "403", "429"} <= set(responses), (path, sorted(responses))
        if "{session_id}" in path:
            assert "404" in responses, path
    for path in INGEST_POSTS:
        responses = schema["paths"][path]["post"]["responses"]
        assert {"202", "400", "401", "403", "413", "429"} <= set(responses), path
    error = _resolve(
        schema,
        schema["paths"]["/v1/analytics/costs"]["get"]["responses"]["400"]["content"][
            "application/json"
        ]["schema"],
    )
    assert {"error", "detail"} <= set(error["properties"])


def test_success_responses_describe_the_envelopes(schema: dict[str, Any]) -> None:
    for path in ANALYTICS_GETS:
        body = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        # The whole response is one object, never an array of envelopes.
        envelope = _resolve(schema, body["schema"])
        assert envelope.get("type", "object") == "object", (path, body["schema"])
        assert "data" in envelope["properties"], path
        if path in LISTS:
            data = envelope["properties"]["data"]
            assert data["type"] == "array", path
            assert set(_resolve(schema, envelope["properties"]["pagination"])["properties"]) == {
                "limit",
                "has_more",
                "next_cursor",
            }
    sessions = schema["paths"]["/v1/analytics/sessions"]["get"]["responses"]["200"]
    page = _resolve(schema, sessions["content"]["application/json"]["schema"])
    item = _resolve(schema, page["properties"]["data"]["items"])
    assert set(item["properties"]) >= SESSION_FIELDS
    assert item["properties"]["total_cost"]["type"] == "number"  # money is a JSON number


class _AssetLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.urls.append(str(values["src"]))
        if tag == "link" and values.get("href"):
            self.urls.append(str(values["href"]))


def test_docs_are_swagger_ui_with_local_assets(db: None) -> None:
    client = APIClient()
    response = client.get("/v1/docs")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "swagger-ui" in html.lower()
    assert "/v1/schema" in html  # the UI loads our schema
    parser = _AssetLinks()
    parser.feed(html)
    scripts = [u for u in parser.urls if u.endswith(".js")]
    styles = [u for u in parser.urls if u.endswith(".css")]
    assert scripts and styles, parser.urls
    for url in parser.urls:
        assert url.startswith("/static/"), f"not served locally: {url}"
    for url in parser.urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        content = b"".join(getattr(asset, "streaming_content", [])) or asset.content
        assert len(content) > 100, url
    assert "javascript" in client.get(scripts[0])["Content-Type"]
    assert client.get(styles[0])["Content-Type"].startswith("text/css")


# --- the schema is the contract: it and the server agree on what is valid ------------------


def _as_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects to JSON Schema: `nullable: true` becomes a null type."""
    if isinstance(node, list):
        return [_as_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _as_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


_FORMATS = jsonschema.FormatChecker()
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$")


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    # jsonschema checks date-time only with an optional package: an RFC 3339 check of our own.
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))  # a real day and time
    return True


def _verdict(document: dict[str, Any], schema: dict[str, Any], value: Any) -> bool:
    """Whether `value` is valid by `schema` (refs resolved against the document)."""
    root = {"allOf": [schema], "components": _as_json_schema(document["components"])}
    validator = jsonschema.Draft7Validator(_as_json_schema(root), format_checker=_FORMATS)
    return validator.is_valid(value)


def _parameter(document: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    parameters = document["paths"][path]["get"]["parameters"]
    return next(p for p in parameters if p["name"] == name)


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("/v1/analytics/events", "entity_id", ""),
        ("/v1/analytics/events", "entity_id", " \t"),
        ("/v1/analytics/events", "entity_id", " ws-X "),
        ("/v1/analytics/events", "entity_id", "a\x00b"),
        ("/v1/analytics/events", "entity_id", "x" * 129),
        ("/v1/analytics/events", "session_id", "s\x01"),
        ("/v1/analytics/events", "session_id", "s 1"),
        ("/v1/analytics/events", "model", "\u00a0"),
        ("/v1/analytics/events", "limit", "0"),
        ("/v1/analytics/events", "limit", "1000"),
        ("/v1/analytics/events", "limit", "1001"),
        ("/v1/analytics/events", "limit", ""),
        ("/v1/analytics/events", "cursor", ""),
        ("/v1/analytics/events", "tz", "Europe/Paris"),
        ("/v1/analytics/events", "tz", " Europe/Paris"),
        ("/v1/analytics/events", "tz", "Mars/Olympus"),
        ("/v1/analytics/events", "start_date", "2025-01-01"),
        ("/v1/analytics/events", "start_date", "2025-01-01t10:00:00z"),
        ("/v1/analytics/events", "end_date", "9999-12-31"),
        ("/v1/analytics/events", "start_date", "yesterday"),
        ("/v1/analytics/sessions", "order_by", ""),
        ("/v1/analytics/sessions", "order_by", "-turn_count"),
        ("/v1/analytics/sessions", "min_turns", "1.5"),
        ("/v1/analytics/sessions", "min_turns", "0"),
        ("/v1/analytics/sessions", "min_cost", "-1"),
        ("/v1/analytics/sessions", "min_cost", "1e51"),
        ("/v1/analytics/sessions", "min_cost", "0.5"),
        ("/v1/analytics/costs", "group_by", "tag:"),
        ("/v1/analytics/costs", "group_by", "tag:team"),
        ("/v1/analytics/costs", "group_by", "tag:a\x00"),
        ("/v1/analytics/costs", "group_by", "bogus"),
    ],
)  # fmt: skip
def test_schema_and_server_agree_on_query_values(
    schema: dict[str, Any], client: Any, path: str, name: str, value: str
) -> None:
    parameter = _parameter(schema, path, name)
    typed: Any = value
    if parameter["schema"].get("type") in ("integer", "number"):
        try:
            typed = json.loads(value)
        except ValueError:
            typed = value
    valid = _verdict(schema, parameter["schema"], typed)
    response = client.get(path, {name: value})
    assert response.status_code in (200, 400), response.content[:300]
    assert (response.status_code == 200) == valid, (value, response.content[:300])
    if not valid:
        assert name in json.loads(response.content)["errors"]


@pytest.mark.parametrize(
    "tags",
    [["team:a"], ["team:"], [":a"], ["team"], [f"{'k' * 65}:v"], [f"k:{'v' * 257}"],
     ["a:1"] * 11, ["k:a\x00"]],
)  # fmt: skip
def test_schema_and_server_agree_on_tag_filters(
    schema: dict[str, Any], client: Any, tags: list[str]
) -> None:
    parameter = _parameter(schema, "/v1/analytics/events", "tag")
    assert (parameter["style"], parameter["explode"]) == ("form", True)  # ?tag=a:1&tag=b:2
    valid = _verdict(schema, parameter["schema"], tags)
    response = client.get("/v1/analytics/events", {"tag": tags})
    assert (response.status_code == 200) == valid, (tags, response.content[:300])


EVENT = {"model": "gpt-4o-mini"}


@pytest.mark.parametrize(
    "event",
    [
        EVENT,
        {**EVENT, "tags": None, "provider": None, "cost": None, "status": None},
        {**EVENT, "entity_type": "user", "entity_id": "u1"},
        {**EVENT, "entity_type": "user"},
        {**EVENT, "entity_type": "user", "entity_id": None},
        {**EVENT, "modle": "typo"},
        {**EVENT, "model": None},
        {**EVENT, "cost": 1_000_000},
        {**EVENT, "cost": 1_000_000.5},
        {**EVENT, "cost": -1},
        {**EVENT, "session_id": "s\x1b[0m"},
        {**EVENT, "session_id": "s\u0085"},
        {**EVENT, "event_id": "e\x00"},
        {**EVENT, "input_tokens": 2**31 - 1},
        {**EVENT, "input_tokens": 2**31},
        {**EVENT, "tags": {f"k{i}": "v" for i in range(51)}},
        {**EVENT, "tags": {"k": "v" * 257}},
        {**EVENT, "status": "ok"},
    ],
)
def test_schema_and_server_agree_on_events(
    schema: dict[str, Any], client: Any, event: dict[str, Any]
) -> None:
    body = schema["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    valid = _verdict(schema, body["schema"], event)
    response = client.post("/v1/events", json.dumps(event), content_type="application/json")
    assert response.status_code in (202, 400), response.content[:300]
    assert (response.status_code == 202) == valid, (event, response.content[:300])


def test_a_batch_refuses_unknown_fields_and_more_than_1000_events(
    schema: dict[str, Any],
) -> None:
    batch = _resolve(
        schema,
        schema["paths"]["/v1/events/batch"]["post"]["requestBody"]["content"]["application/json"][
            "schema"
        ],
    )
    assert batch["additionalProperties"] is False
    assert batch["properties"]["events"]["maxItems"] == 1000
    assert _resolve(schema, batch["properties"]["events"]["items"])["additionalProperties"] is False


def test_session_calls_are_described_without_their_session_id(schema: dict[str, Any]) -> None:
    """The detail's calls leave out the session id (it is the detail's own); events list
    calls carry it."""
    detail = schema["components"]["schemas"]["SessionDetailOut"]
    call = _resolve(schema, detail["properties"]["calls"]["items"])
    assert "session_id" not in call["properties"]
    assert "session_id" not in call.get("required", [])
    events_call = schema["components"]["schemas"]["CallOut"]
    assert "session_id" in events_call["required"]
