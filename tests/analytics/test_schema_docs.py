"""GET /v1/schema (OpenAPI 3) and GET /v1/docs (Swagger UI with locally served assets)."""

import json
from html.parser import HTMLParser
from typing import Any

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
