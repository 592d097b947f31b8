"""Helpers for the Analytics API tests: seeding through the ingestion API, paging, errors."""

import csv
import io
from collections.abc import Iterator
from typing import Any

BATCH = "/v1/events/batch"
SESSIONS = "/v1/analytics/sessions"
METRICS = "/v1/analytics/session-metrics"
COSTS = "/v1/analytics/costs"
EVENTS = "/v1/analytics/events"

# The item fields SPEC section 7 lists for a session.
SESSION_FIELDS = {
    "session_id", "entity_type", "entity_id", "turn_count", "total_cost", "input_tokens",
    "output_tokens", "total_tokens", "first_seen", "last_seen", "duration_seconds", "models",
    "error_count", "tags",
}  # fmt: skip
# Beyond SPEC: cache-hit input tokens, tracked by the aggregate (SPEC section 5).
SESSION_EXTRA_FIELDS = {"cached_input_tokens"}
CALL_FIELDS = {
    "event_id", "timestamp", "model", "provider", "entity_type", "entity_id", "input_tokens",
    "output_tokens", "cached_input_tokens", "cost", "cost_source", "latency_ms", "status",
    "tags",
}  # fmt: skip


def ingest(client: Any, events: list[dict[str, Any]]) -> None:
    """POST the events through the real batch endpoint; every one must be accepted as new."""
    for start in range(0, len(events), 1000):
        chunk = events[start : start + 1000]
        response = client.post_json(BATCH, {"events": chunk})
        assert response.status_code == 202, response.content[:2000]
        body = response.json()
        assert (body["accepted"], body["duplicates"], body["rejected"]) == (len(chunk), 0, 0)


def get_ok(client: Any, path: str, params: Any = None, **extra: Any) -> Any:
    response = client.get(path, params or {}, **extra)
    assert response.status_code == 200, (response.status_code, response.content[:2000])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    return response.json()


def session_ids(body: dict[str, Any]) -> list[str]:
    return [item["session_id"] for item in body["data"]]


def pages(client: Any, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every page of a cursor-paginated endpoint, following next_cursor to the end."""
    params = dict(params)
    for _ in range(10_000):
        body = get_ok(client, path, params)
        yield body
        pagination = body["pagination"]
        if not pagination["has_more"]:
            assert pagination["next_cursor"] is None, pagination
            return
        assert isinstance(pagination["next_cursor"], str) and pagination["next_cursor"]
        params["cursor"] = pagination["next_cursor"]
    raise AssertionError("pagination did not end")


def assert_param_error(response: Any, name: str) -> dict[str, Any]:
    """A 400 JSON error whose `errors` names the query parameter `name` with a reason."""
    assert response.status_code == 400, (response.status_code, response.content[:2000])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert body["error"] == "invalid_request", body
    assert isinstance(body["detail"], str) and body["detail"], body
    assert name in body["errors"], body
    reasons = body["errors"][name]
    assert reasons and all(isinstance(r, str) and len(r.split()) >= 2 for r in reasons), body
    return body


def assert_not_found(response: Any) -> None:
    assert response.status_code == 404, (response.status_code, response.content[:2000])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert body["error"] == "not_found" and body["detail"], body


def csv_table(response: Any) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows) of a CSV response."""
    assert response.status_code == 200, (response.status_code, response.content[:2000])
    assert response["Content-Type"].startswith("text/csv"), response["Content-Type"]
    content = getattr(response, "streaming_content", None)
    raw = b"".join(content) if content is not None else response.content
    reader = csv.reader(io.StringIO(raw.decode("utf-8")))
    header = next(reader)
    return header, [dict(zip(header, row, strict=True)) for row in reader]
