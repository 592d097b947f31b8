"""Helpers shared by the ingestion tests: raw posts and assertions on error bodies."""

from typing import Any

from tests.factories import event

EVENTS = "/v1/events"
BATCH = "/v1/events/batch"


def client_event(**fields: Any) -> dict[str, Any]:
    """A valid event as a client sends it: priced by the client (cost 0.001), no event_id
    unless given (the server assigns one); any field may be overridden."""
    return event(**{"event_id": None, "cost": 0.001, **fields})


def post_raw(client: Any, path: str, raw: bytes, **extra: Any) -> Any:
    """POST bytes exactly as given (no re-encoding by the test client)."""
    return client.post(path, raw, content_type="application/json", **extra)


def assert_plain_reasons(reasons: Any) -> None:
    """A non-empty list of reasons, each in words rather than parser jargon."""
    assert isinstance(reasons, list), reasons
    assert reasons, "no reason given"
    for reason in reasons:
        assert isinstance(reason, str), reason
        assert len(reason.split()) >= 2, f"not a sentence: {reason!r}"
        assert "`" not in reason, f"parser jargon: {reason!r}"
        assert "$." not in reason, f"parser path: {reason!r}"


def json_error_body(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.content[:2000])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("detail"), str) and body["detail"], body
    return body


def assert_field_error(response: Any, field: str, status: int = 400) -> dict[str, Any]:
    """The response is a JSON error that names `field` in `errors` with a plain reason."""
    body = json_error_body(response, status)
    errors = body.get("errors")
    assert isinstance(errors, dict), body
    assert field in errors, f"{field!r} not named in {errors}"
    assert_plain_reasons(errors[field])
    return body


def named_fields(body: dict[str, Any]) -> dict[str, list[str]]:
    """Field -> reasons from an error body: the top-level `errors` object, or the per-item
    errors of a rejected batch (`errors` is then a list of {index, event_id, errors})."""
    errors = body.get("errors")
    if isinstance(errors, dict):
        return errors
    assert isinstance(errors, list), body
    merged: dict[str, list[str]] = {}
    for item in errors:
        assert isinstance(item["index"], int), item
        for field, reasons in item["errors"].items():
            merged.setdefault(field, []).extend(reasons)
    return merged
