"""SPEC section 4 through POST /v1/events and /v1/events/batch: every field rule, every
rejection naming its field in plain words, and what accepted events look like in the database."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings

from ingestion.models import Event
from tests.conftest import KeyClient
from tests.ingest_helpers import (
    BATCH,
    EVENTS,
    assert_field_error,
    assert_plain_reasons,
    client_event,
    json_error_body,
    named_fields,
    post_raw,
)

pytestmark = pytest.mark.django_db

# (field, shortest allowed, longest allowed)
STRING_BOUNDS = [
    ("event_id", 1, 128),
    ("model", 1, 200),
    ("provider", 0, 64),
    ("entity_type", 1, 128),
    ("entity_id", 1, 128),
    ("session_id", 1, 256),
]
# The other half of the entity pair, so a length test only breaks the length rule.
PARTNER = {"entity_type": {"entity_id": "e-1"}, "entity_id": {"entity_type": "customer"}}


def reject(client: KeyClient, body: Any, field: str) -> dict[str, Any]:
    response = client.post_json(EVENTS, body)
    result = assert_field_error(response, field)
    assert Event.objects.count() == 0, "a rejected event was stored"
    return result


def accept(client: KeyClient, body: Any) -> Event:
    response = client.post_json(EVENTS, body)
    assert response.status_code == 202, response.content
    data = response.json()
    assert data["duplicate"] is False
    return Event.objects.get(organization=client.organization, event_id=data["event_id"])


# --- strings: lengths and types ------------------------------------------------------------


@pytest.mark.parametrize(("field", "shortest", "longest"), STRING_BOUNDS)
def test_string_fields_accept_their_shortest_and_longest_values(
    client: KeyClient, field: str, shortest: int, longest: int
) -> None:
    for length in (shortest, longest):
        value = "x" * length
        stored = accept(client, client_event(**{field: value, **PARTNER.get(field, {})}))
        assert getattr(stored, field) == value


@pytest.mark.parametrize(("field", "shortest", "longest"), STRING_BOUNDS)
def test_string_fields_reject_one_over_the_maximum(
    client: KeyClient, field: str, shortest: int, longest: int
) -> None:
    body = reject(
        client, client_event(**{field: "x" * (longest + 1), **PARTNER.get(field, {})}), field
    )
    assert str(longest) in body["errors"][field][0]


@pytest.mark.parametrize("field", [field for field, shortest, _ in STRING_BOUNDS if shortest == 1])
def test_string_fields_with_a_minimum_reject_the_empty_string(
    client: KeyClient, field: str
) -> None:
    body = reject(client, client_event(**{field: "", **PARTNER.get(field, {})}), field)
    assert "empty" in body["errors"][field][0]


def test_lengths_count_characters_not_bytes(client: KeyClient) -> None:
    # 128 four-byte characters are 128 characters: accepted; 129 are not.
    stored = accept(client, client_event(event_id="🚀" * 128))
    assert stored.event_id == "🚀" * 128
    assert_field_error(client.post_json(EVENTS, client_event(event_id="🚀" * 129)), "event_id")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", 12345),
        ("event_id", ["a"]),
        ("model", 5),
        ("model", True),
        ("model", {"name": "gpt-4o"}),
        ("provider", 1),
        ("provider", ["openai"]),
        ("session_id", 42),
        ("session_id", {"id": "s"}),
        ("timestamp", 1700000000),
        ("timestamp", "yesterday"),
        ("timestamp", "2024-01-01"),
        ("timestamp", "2024-13-01T00:00:00Z"),
        ("timestamp", ["2024-01-01T00:00:00Z"]),
    ],
)
def test_wrong_types_are_rejected(client: KeyClient, field: str, value: Any) -> None:
    reject(client, client_event(**{field: value}), field)


@pytest.mark.parametrize(
    ("field", "partner"), [("entity_type", "entity_id"), ("entity_id", "entity_type")]
)
def test_entity_fields_must_be_strings(client: KeyClient, field: str, partner: str) -> None:
    reject(client, client_event(**{field: 7, partner: "x"}), field)


def test_missing_model_is_rejected(client: KeyClient) -> None:
    body = reject(client, {"input_tokens": 1}, "model")
    assert "required" in body["errors"]["model"][0]


def test_null_model_is_rejected_naming_the_field(client: KeyClient) -> None:
    reject(client, {"model": None}, "model")


def test_every_bad_field_is_reported_at_once(client: KeyClient) -> None:
    body = reject(
        client,
        {"model": 5, "input_tokens": -1, "status": "ok", "cost": "1", "tags": {"k": 1}},
        "model",
    )
    assert {"model", "input_tokens", "status", "cost", "tags"} <= set(body["errors"])
    for reasons in body["errors"].values():
        assert_plain_reasons(reasons)


# --- timestamp ------------------------------------------------------------------------------


def test_naive_timestamp_is_rejected(client: KeyClient) -> None:
    body = reject(client, client_event(timestamp="2024-06-01T12:00:00"), "timestamp")
    assert "offset" in body["errors"]["timestamp"][0]


def test_timestamp_more_than_five_minutes_ahead_is_rejected(client: KeyClient) -> None:
    ahead = datetime.now(UTC) + timedelta(minutes=6)
    body = reject(client, client_event(timestamp=ahead.isoformat()), "timestamp")
    assert "future" in body["errors"]["timestamp"][0]


def test_timestamp_slightly_ahead_is_clock_skew_and_accepted(client: KeyClient) -> None:
    ahead = datetime.now(UTC) + timedelta(minutes=4)
    stored = accept(client, client_event(timestamp=ahead.isoformat()))
    assert abs(stored.timestamp - ahead) < timedelta(milliseconds=1)


def test_timestamp_defaults_to_receipt_time(client: KeyClient) -> None:
    before = datetime.now(UTC)
    stored = accept(client, client_event())
    after = datetime.now(UTC)
    assert before <= stored.timestamp <= after
    assert stored.timestamp == stored.received_at


def test_timestamp_with_an_offset_is_stored_as_that_instant(client: KeyClient) -> None:
    stored = accept(client, client_event(timestamp="2024-06-01T12:00:00+02:00"))
    assert stored.timestamp == datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    stored = accept(client, client_event(timestamp="2024-06-01T12:00:00.250Z"))
    assert stored.timestamp == datetime(2024, 6, 1, 12, 0, 0, 250_000, tzinfo=UTC)


# --- entity pair, session id ----------------------------------------------------------------


def test_entity_type_without_entity_id_is_rejected(client: KeyClient) -> None:
    body = reject(client, client_event(entity_type="customer"), "entity_id")
    assert "together" in body["errors"]["entity_id"][0]


def test_entity_id_without_entity_type_is_rejected(client: KeyClient) -> None:
    body = reject(client, client_event(entity_id="acme"), "entity_type")
    assert "together" in body["errors"]["entity_type"][0]


def test_entity_pair_is_stored(client: KeyClient) -> None:
    stored = accept(client, client_event(entity_type="customer", entity_id="acme"))
    assert (stored.entity_type, stored.entity_id) == ("customer", "acme")
    stored = accept(client, client_event())
    assert (stored.entity_type, stored.entity_id) == (None, None)


@pytest.mark.parametrize(
    "session_id",
    ["a\nb", "tab\there", "\r", "bell\x07", "unit\x1f", "del\x7f", "nul\x00", "c1\x85", "c1\x9f"],
)
def test_control_characters_in_session_id_are_rejected(client: KeyClient, session_id: str) -> None:
    body = reject(client, client_event(session_id=session_id), "session_id")
    assert "control" in body["errors"]["session_id"][0]


def test_session_id_with_punctuation_and_unicode_is_accepted(client: KeyClient) -> None:
    session_id = "conv/2024 #1?x=y&z=%20 — ünïcödé 会话 🚀"
    assert accept(client, client_event(session_id=session_id)).session_id == session_id


# --- tags -----------------------------------------------------------------------------------


def test_tags_at_their_limits_are_accepted(client: KeyClient) -> None:
    tags = {f"k{i:02d}": "v" for i in range(48)}
    tags["k" * 64] = "v" * 256
    tags["empty"] = ""
    assert len(tags) == 50
    assert accept(client, client_event(tags=tags)).tags == tags


@pytest.mark.parametrize(
    ("tags", "words"),
    [
        ({f"k{i}": "v" for i in range(51)}, "50"),
        ({"": "v"}, "empty"),
        ({"k" * 65: "v"}, "64"),
        ({"k": "v" * 257}, "256"),
        ({"k": 1}, "string"),
        ({"k": None}, "string"),
        ({"k": True}, "string"),
        ({"k": ["v"]}, "string"),
        ({"k": {"nested": "v"}}, "string"),
        (["k", "v"], "object"),
        ("k=v", "object"),
    ],
)
def test_bad_tags_are_rejected(client: KeyClient, tags: Any, words: str) -> None:
    body = reject(client, client_event(tags=tags), "tags")
    assert words in body["errors"]["tags"][0]


# --- unknown fields, status -----------------------------------------------------------------


@pytest.mark.parametrize("field", ["sesion_id", "organization", "organization_id", "cost_usd"])
def test_unknown_fields_are_rejected(client: KeyClient, field: str) -> None:
    body = reject(client, client_event(**{field: "x"}), field)
    assert "unknown" in body["errors"][field][0]


@pytest.mark.parametrize("status", ["success", "error"])
def test_status_values_are_stored(client: KeyClient, status: str) -> None:
    assert accept(client, client_event(status=status)).status == status


def test_status_defaults_to_success(client: KeyClient) -> None:
    assert accept(client, client_event()).status == "success"


@pytest.mark.parametrize("status", ["ok", "SUCCESS", "failed", "", 1, True, ["success"]])
def test_status_outside_the_enum_is_rejected(client: KeyClient, status: Any) -> None:
    reject(client, client_event(status=status), "status")


# --- integers -------------------------------------------------------------------------------

INT_FIELDS = ["input_tokens", "output_tokens", "cached_input_tokens", "latency_ms"]


@pytest.mark.parametrize("field", INT_FIELDS)
def test_negative_integers_are_rejected(client: KeyClient, field: str) -> None:
    body = reject(client, client_event(**{field: -1}), field)
    assert ">= 0" in body["errors"][field][0]


@pytest.mark.parametrize("field", INT_FIELDS)
@pytest.mark.parametrize("value", [1.5, "5", True, [1], {"n": 1}])
def test_non_integer_counts_are_rejected(client: KeyClient, field: str, value: Any) -> None:
    body = reject(client, client_event(**{field: value}), field)
    assert "integer" in body["errors"][field][0]


@pytest.mark.parametrize("field", INT_FIELDS)
def test_huge_integers_are_rejected(client: KeyClient, field: str) -> None:
    reject(client, client_event(**{field: 10**30}), field)


@pytest.mark.parametrize("field", INT_FIELDS)
def test_out_of_range_float_literals_are_rejected(client: KeyClient, field: str) -> None:
    raw = json.dumps(client_event()).replace("}", f', "{field}": 1e400}}').encode()
    assert_field_error(post_raw(client, EVENTS, raw), field)
    assert Event.objects.count() == 0


def test_counts_are_stored_and_default_to_zero(client: KeyClient) -> None:
    stored = accept(
        client,
        client_event(input_tokens=1000, output_tokens=20, cached_input_tokens=300, latency_ms=812),
    )
    assert (stored.input_tokens, stored.output_tokens, stored.cached_input_tokens) == (
        1000,
        20,
        300,
    )
    assert stored.latency_ms == 812
    stored = accept(client, client_event())
    assert (stored.input_tokens, stored.output_tokens, stored.cached_input_tokens) == (0, 0, 0)
    assert stored.latency_ms is None


# --- cost -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cost", "nanos"),
    [
        ("0.0000015", 1500),
        ("0", 0),
        ("2", 2_000_000_000),
        ("123.456789012", 123_456_789_012),
        ("1.5e-3", 1_500_000),
    ],
)
def test_client_cost_is_stored_exactly_in_nanos(client: KeyClient, cost: str, nanos: int) -> None:
    # The JSON number is written literally so no float ever touches it on our side.
    raw = b'{"model": "gpt-4o", "input_tokens": 10, "cost": ' + cost.encode() + b"}"
    response = post_raw(client, EVENTS, raw)
    assert response.status_code == 202, response.content
    stored = Event.objects.get(event_id=response.json()["event_id"])
    assert stored.cost_nanos == nanos
    assert stored.cost == Decimal(cost)
    assert stored.cost_source == "client"


@pytest.mark.parametrize(
    ("raw_cost", "words"),
    [
        ("-0.01", ">= 0"),
        ("-1e400", ">= 0"),
        ('"0.01"', "number"),
        ("true", "number"),
        ("false", "number"),
        ("[0.01]", "number"),
        ('{"usd": 0.01}', "number"),
        ("1e400", "at most"),
        ("1000000000000000000000000000000", "at most"),
        ("1000000.000000001", "at most"),
    ],
)
def test_bad_costs_are_rejected(client: KeyClient, raw_cost: str, words: str) -> None:
    raw = b'{"model": "gpt-4o", "cost": ' + raw_cost.encode() + b"}"
    body = assert_field_error(post_raw(client, EVENTS, raw), "cost")
    assert words in body["errors"]["cost"][0]
    assert Event.objects.count() == 0


# --- the single endpoint's body -------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"not json", b"[]", b"null", b'"event"', b"1", b"{"])
def test_single_endpoint_rejects_bodies_that_are_not_one_object(
    client: KeyClient, raw: bytes
) -> None:
    assert_field_error(post_raw(client, EVENTS, raw), "body")


def test_accepted_event_is_stored_with_every_field(client: KeyClient) -> None:
    body = {
        "event_id": "evt-1",
        "timestamp": "2025-03-01T09:30:00Z",
        "model": "claude-sonnet-4-20250514",
        "provider": "anthropic",
        "entity_type": "customer",
        "entity_id": "acme",
        "session_id": "s-1",
        "input_tokens": 100,
        "output_tokens": 50,
        "cached_input_tokens": 10,
        "cost": 0.0000015,
        "latency_ms": 1234,
        "status": "error",
        "tags": {"feature": "chat", "env": "prod"},
    }
    response = client.post_json(EVENTS, body)
    assert response.status_code == 202, response.content
    assert response.json() == {"event_id": "evt-1", "duplicate": False}
    stored = Event.objects.get(event_id="evt-1")
    assert stored.organization_id == client.organization.pk
    assert stored.timestamp == datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    assert (stored.model, stored.provider) == ("claude-sonnet-4-20250514", "anthropic")
    assert (stored.entity_type, stored.entity_id, stored.session_id) == ("customer", "acme", "s-1")
    assert (stored.input_tokens, stored.output_tokens, stored.cached_input_tokens) == (100, 50, 10)
    assert (stored.cost_nanos, stored.cost_source) == (1500, "client")
    assert (stored.latency_ms, stored.status) == (1234, "error")
    assert stored.tags == {"feature": "chat", "env": "prod"}


def test_event_id_is_generated_when_absent(client: KeyClient) -> None:
    first = accept(client, client_event())
    second = accept(client, client_event())
    assert first.event_id != second.event_id
    assert len(first.event_id) == 36  # a UUID4 in its canonical form


# --- batch ----------------------------------------------------------------------------------


def test_partly_bad_batch_is_207_storing_the_good_items(client: KeyClient) -> None:
    events = [
        client_event(event_id="ok-1"),
        {"event_id": "bad-1", "input_tokens": 5},
        client_event(event_id="ok-2"),
        client_event(event_id="bad-2", cost=-1),
        {"model": "gpt-4o", "entity_type": "customer"},
        "not an event",
    ]
    response = client.post_json(BATCH, {"events": events})
    assert response.status_code == 207, response.content
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, 4)
    by_index = {error["index"]: error for error in body["errors"]}
    assert set(by_index) == {1, 3, 4, 5}
    assert by_index[1]["event_id"] == "bad-1"
    assert "model" in by_index[1]["errors"]
    assert by_index[3]["event_id"] == "bad-2"
    assert "cost" in by_index[3]["errors"]
    assert by_index[4]["event_id"] is None
    assert "entity_id" in by_index[4]["errors"]
    assert by_index[5]["event_id"] is None
    assert "event" in by_index[5]["errors"]
    for error in body["errors"]:
        for reasons in error["errors"].values():
            assert_plain_reasons(reasons)
    assert set(Event.objects.values_list("event_id", flat=True)) == {"ok-1", "ok-2"}


def test_fully_good_batch_is_202(client: KeyClient) -> None:
    response = client.post_json(
        BATCH, {"events": [client_event(event_id="a"), client_event(event_id="b")]}
    )
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": 0, "errors": []}
    assert Event.objects.count() == 2


def test_all_bad_batch_is_400_and_stores_nothing(client: KeyClient) -> None:
    events = [{"event_id": "x", "model": ""}, client_event(event_id="y", tags={"k": 1}), 7]
    body = json_error_body(client.post_json(BATCH, {"events": events}), 400)
    assert body["rejected"] == 3
    assert body["accepted"] == 0
    assert [error["index"] for error in body["errors"]] == [0, 1, 2]
    assert [error["event_id"] for error in body["errors"]] == ["x", "y", None]
    assert {"model", "tags", "event"} <= set(named_fields(body))
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"", "body"),
        (b"events", "body"),
        (b'{"events": [', "body"),
        (b"[]", "body"),
        (b'[{"model": "gpt-4o"}]', "body"),
        (b"null", "body"),
        (b'"events"', "body"),
        (b"{}", "events"),
        (b'{"event": []}', "event"),
        (b'{"events": {}}', "events"),
        (b'{"events": null}', "events"),
        (b'{"events": "[]"}', "events"),
        (b'{"events": {"model": "gpt-4o"}}', "events"),
        (b'{"events": [], "organization": 2}', "organization"),
        (b'{"events": [], "dry_run": true}', "dry_run"),
    ],
)
def test_malformed_batch_bodies_are_400(client: KeyClient, raw: bytes, field: str) -> None:
    assert_field_error(post_raw(client, BATCH, raw), field)
    assert Event.objects.count() == 0


def test_batch_over_1000_events_is_400_and_stores_nothing(client: KeyClient) -> None:
    events = [client_event(event_id=f"e-{i}") for i in range(settings.MAX_BATCH_EVENTS + 1)]
    body = assert_field_error(client.post_json(BATCH, {"events": events}), "events")
    assert "1000" in body["errors"]["events"][0]
    assert Event.objects.count() == 0


# --- body size ------------------------------------------------------------------------------


def padded(raw: bytes, size: int) -> bytes:
    """`raw` followed by JSON whitespace up to exactly `size` bytes: still a valid body."""
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


@pytest.mark.parametrize("path", [EVENTS, BATCH])
def test_declared_content_length_over_5mb_is_413(client: KeyClient, path: str) -> None:
    raw = json.dumps({"events": [client_event()]} if path == BATCH else client_event()).encode()
    response = post_raw(client, path, raw, CONTENT_LENGTH=str(settings.MAX_BODY_BYTES + 1))
    body = json_error_body(response, 413)
    assert "5 MB" in body["detail"]
    assert Event.objects.count() == 0


@pytest.mark.parametrize("path", [EVENTS, BATCH])
def test_real_body_over_5mb_is_413(client: KeyClient, path: str) -> None:
    raw = json.dumps({"events": [client_event()]} if path == BATCH else client_event()).encode()
    assert settings.MAX_BODY_BYTES == 5 * 1024 * 1024
    response = post_raw(client, path, padded(raw, settings.MAX_BODY_BYTES + 1))
    json_error_body(response, 413)
    assert Event.objects.count() == 0


def test_real_body_of_a_big_batch_over_5mb_is_413(client: KeyClient) -> None:
    # About 5.3 MB of genuine events, not padding.
    events = [
        client_event(event_id=f"big-{i}", tags={f"k{j}": "v" * 250 for j in range(21)})
        for i in range(1000)
    ]
    raw = json.dumps({"events": events}).encode()
    assert len(raw) > settings.MAX_BODY_BYTES
    json_error_body(post_raw(client, BATCH, raw), 413)
    assert Event.objects.count() == 0


def test_body_of_exactly_5mb_is_accepted(client: KeyClient) -> None:
    raw = json.dumps({"events": [client_event(event_id="edge")]}).encode()
    response = post_raw(client, BATCH, padded(raw, settings.MAX_BODY_BYTES))
    assert response.status_code == 202, response.content[:500]
    assert Event.objects.filter(event_id="edge").exists()
