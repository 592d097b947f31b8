"""A corpus of malformed bodies thrown at both ingestion endpoints.

Each case is sent three ways: as the body of POST /v1/events, as the body of
POST /v1/events/batch, and (where it is an item at all) as the one item of a batch. Every answer
must be a 4xx JSON error naming a field with a reason in words; none may be a 5xx. Valid but
unusual unicode must be accepted and stored exactly.
"""

import json
from dataclasses import dataclass
from typing import Any

import pytest

from ingestion.models import Event
from sessions.models import PendingRollup
from tests.conftest import KeyClient
from tests.ingest_helpers import (
    BATCH,
    EVENTS,
    assert_field_error,
    assert_plain_reasons,
    json_error_body,
    named_fields,
    post_raw,
)

pytestmark = pytest.mark.django_db

DEEP = 100_000
NO_ITEM = ""  # the body has no meaningful form as a batch item


@dataclass(frozen=True)
class Case:
    id: str
    raw: bytes
    field: str  # the field the single endpoint must name
    item_field: str  # the field named when the case is a batch item, or NO_ITEM


def j(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def ev(**fields: Any) -> bytes:
    return j({"model": "gpt-4o", "cost": 0.001, **fields})


def bad(case_id: str, raw: bytes, field: str, item_field: str | None = None) -> Case:
    return Case(case_id, raw, field, field if item_field is None else item_field)


def syntax(case_id: str, raw: bytes) -> Case:
    """Not JSON at all: the body is at fault, as a whole and inside a batch."""
    return Case(case_id, raw, "body", "body")


CORPUS: list[Case] = [
    # --- not an object, not JSON -------------------------------------------------------------
    Case("empty-body", b"", "body", NO_ITEM),
    Case("whitespace-only", b" \n\t ", "body", NO_ITEM),
    bad("null", b"null", "body", "event"),
    bad("empty-array", b"[]", "body", "event"),
    bad("array-of-event", b'[{"model": "gpt-4o"}]', "body", "event"),
    bad("string", b'"string"', "body", "event"),
    bad("number", b"1", "body", "event"),
    bad("true", b"true", "body", "event"),
    syntax("truncated", b'{"model": "gpt-4o", "cost": 0.1'),
    syntax("truncated-in-string", b'{"model": "gpt-'),
    syntax("trailing-comma", b'{"model": "gpt-4o",}'),
    syntax("single-quotes", b"{'model': 'gpt-4o'}"),
    syntax("unquoted-key", b'{model: "gpt-4o"}'),
    syntax("two-documents", b'{"model": "a"} {"model": "b"}'),
    syntax("trailing-garbage", b'{"model": "gpt-4o"}x'),
    syntax("comment", b'{"model": "gpt-4o" /* why */}'),
    syntax("nan-literal", b'{"model": "gpt-4o", "cost": NaN}'),
    syntax("infinity-literal", b'{"model": "gpt-4o", "cost": Infinity}'),
    syntax("minus-infinity-literal", b'{"model": "gpt-4o", "cost": -Infinity}'),
    syntax("hex-number", b'{"model": "gpt-4o", "input_tokens": 0x10}'),
    syntax("leading-zeros", b'{"model": "gpt-4o", "input_tokens": 007}'),
    syntax("plus-sign", b'{"model": "gpt-4o", "input_tokens": +1}'),
    syntax("bare-fraction", b'{"model": "gpt-4o", "cost": .5}'),
    syntax("utf16-body", '{"model": "gpt-4o"}'.encode("utf-16")),
    syntax("raw-newline-in-string", b'{"model": "gpt\n4o"}'),
    syntax("invalid-escape", b'{"model": "\\x41"}'),
    # --- invalid unicode ------------------------------------------------------------------
    syntax("lone-high-surrogate", b'{"model": "\\ud800"}'),
    syntax("lone-high-surrogate-then-text", b'{"model": "\\ud800abc"}'),
    syntax("lone-low-surrogate", b'{"model": "\\udc00"}'),
    syntax("reversed-surrogates", b'{"model": "\\udc00\\ud800"}'),
    syntax("surrogate-in-tag-key", b'{"model": "m", "tags": {"\\ud800": "v"}}'),
    syntax("invalid-utf8-byte", b'{"model": "gpt-\xff"}'),
    syntax("overlong-utf8", b'{"model": "\xc0\xaf"}'),
    syntax("utf8-encoded-surrogate", b'{"model": "\xed\xa0\x80"}'),
    syntax("truncated-utf8-sequence", b'{"model": "\xe2\x82"}'),
    syntax("invalid-utf8-in-key", b'{"mod\xfeel": "gpt-4o"}'),
    # --- deep nesting -----------------------------------------------------------------------
    syntax("deep-arrays", b"[" * DEEP + b"]" * DEEP),
    syntax("deep-objects", b'{"a":' * DEEP + b"1" + b"}" * DEEP),
    syntax("deep-in-model", b'{"model": ' + b"[" * DEEP + b"]" * DEEP + b"}"),
    syntax(
        "deep-in-tags",
        b'{"model": "m", "tags": {"k": ' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}}",
    ),
    # --- NUL and control characters ---------------------------------------------------------
    bad("nul-in-model", ev(model="gpt\u00004o"), "model"),
    bad("nul-only-model", ev(model="\u0000"), "model"),
    bad("nul-in-event-id", ev(event_id="e\u00001"), "event_id"),
    bad("nul-in-provider", ev(provider="open\u0000ai"), "provider"),
    bad("nul-in-entity-type", ev(entity_type="cust\u0000", entity_id="a"), "entity_type"),
    bad("nul-in-entity-id", ev(entity_type="customer", entity_id="\u0000acme"), "entity_id"),
    bad("nul-in-session-id", ev(session_id="s\u00001"), "session_id"),
    bad("nul-in-tag-key", ev(tags={"k\u0000": "v"}), "tags"),
    bad("nul-in-tag-value", ev(tags={"k": "v\u0000"}), "tags"),
    bad("escape-seq-in-session-id", ev(session_id="\u001b[31mred"), "session_id"),
    bad("c1-control-in-session-id", ev(session_id="a\u0085b"), "session_id"),
    # --- empty and overlong strings -----------------------------------------------------------
    bad("empty-object", b"{}", "model"),
    bad("empty-model", ev(model=""), "model"),
    bad("empty-event-id", ev(event_id=""), "event_id"),
    bad("empty-session-id", ev(session_id=""), "session_id"),
    bad("empty-entity-type", ev(entity_type="", entity_id="a"), "entity_type"),
    bad("empty-entity-id", ev(entity_type="customer", entity_id=""), "entity_id"),
    bad("empty-tag-key", ev(tags={"": "v"}), "tags"),
    bad("model-201", ev(model="m" * 201), "model"),
    bad("model-1mb", ev(model="m" * 1_000_000), "model"),
    bad("event-id-129", ev(event_id="e" * 129), "event_id"),
    bad("event-id-100k-emoji", ev(event_id="🚀" * 100_000), "event_id"),
    bad("provider-65", ev(provider="p" * 65), "provider"),
    bad("entity-type-129", ev(entity_type="t" * 129, entity_id="a"), "entity_type"),
    bad("entity-id-129", ev(entity_type="customer", entity_id="i" * 129), "entity_id"),
    bad("session-id-257", ev(session_id="s" * 257), "session_id"),
    bad("session-id-10k", ev(session_id="s" * 10_000), "session_id"),
    bad("tag-key-10k", ev(tags={"k" * 10_000: "v"}), "tags"),
    bad("tag-value-100k", ev(tags={"k": "v" * 100_000}), "tags"),
    bad("tags-51", ev(tags={str(i): "v" for i in range(51)}), "tags"),
    bad("tags-10k", ev(tags={str(i): "v" for i in range(10_000)}), "tags"),
    bad("unknown-key-100k", ev(**{"k" * 100_000: 1}), "k" * 100_000),
    # --- duplicate keys: a 400 naming the key, whichever value would be read ----------------
    bad("duplicate-model", b'{"model": "gpt-4o", "model": 5}', "model"),
    bad("duplicate-cost", b'{"model": "gpt-4o", "cost": 0.1, "cost": -1}', "cost"),
    bad("duplicate-tags", b'{"model": "m", "tags": {}, "tags": {"k": 1}}', "tags"),
    # --- wrong types at every field -------------------------------------------------------------
    bad("null-model", ev(model=None), "model"),
    bad("event-id-int", ev(event_id=1), "event_id"),
    bad("event-id-object", ev(event_id={"id": "x"}), "event_id"),
    bad("timestamp-bool", ev(timestamp=True), "timestamp"),
    bad("timestamp-epoch", ev(timestamp=1717243200), "timestamp"),
    bad("model-array", ev(model=["gpt-4o"]), "model"),
    bad("model-number", ev(model=4.0), "model"),
    bad("provider-object", ev(provider={}), "provider"),
    bad("entity-type-int", ev(entity_type=1, entity_id="a"), "entity_type"),
    bad("entity-id-array", ev(entity_type="customer", entity_id=["a"]), "entity_id"),
    bad("session-id-float", ev(session_id=1.5), "session_id"),
    bad("input-tokens-string", ev(input_tokens="100"), "input_tokens"),
    bad("output-tokens-float", ev(output_tokens=1.5), "output_tokens"),
    bad("cached-tokens-bool", ev(cached_input_tokens=True), "cached_input_tokens"),
    bad("cost-string", ev(cost="0.01"), "cost"),
    bad("cost-bool", ev(cost=False), "cost"),
    bad("cost-null-array", ev(cost=[None]), "cost"),
    bad("latency-object", ev(latency_ms={}), "latency_ms"),
    bad("status-number", ev(status=0), "status"),
    bad("status-unknown", ev(status="timeout"), "status"),
    bad("tags-array", ev(tags=[["k", "v"]]), "tags"),
    bad("tags-string", ev(tags="k=v"), "tags"),
    bad("tag-value-number", ev(tags={"k": 1.5}), "tags"),
    bad("tag-value-null", ev(tags={"k": None}), "tags"),
    bad("unknown-field", ev(organization_id=1), "organization_id"),
    # --- numbers out of every range -------------------------------------------------------------
    bad("tokens-1e30", ev(input_tokens=10**30), "input_tokens"),
    bad("tokens-2pow31", ev(output_tokens=2**31), "output_tokens"),
    bad("latency-2pow63", ev(latency_ms=2**63), "latency_ms"),
    bad("tokens-negative", ev(cached_input_tokens=-5), "cached_input_tokens"),
    bad("tokens-huge-negative", ev(input_tokens=-(10**30)), "input_tokens"),
    bad("tokens-1e400", b'{"model": "m", "input_tokens": 1e400}', "input_tokens"),
    bad("cost-1e400", b'{"model": "m", "cost": 1e400}', "cost"),
    bad("cost-minus-1e400", b'{"model": "m", "cost": -1e400}', "cost"),
    bad("cost-1e30-integer", ev(cost=10**30), "cost"),
    bad("cost-exponent-overflow", b'{"model": "m", "cost": 1e99999999999999999999}', "cost"),
    bad("cost-exponent-underflow", b'{"model": "m", "cost": 1e-99999999999999999999}', "cost"),
    bad(
        "tokens-exponent-overflow",
        b'{"model": "m", "input_tokens": 1e999999999999999999999}',
        "input_tokens",
    ),
    bad("cost-negative-tiny", b'{"model": "m", "cost": -0.000000001}', "cost"),
    # More digits than msgspec reads: still named by field (issue 10: a cost that cannot be
    # stored is a 400 naming `cost`).
    bad("cost-100k-digit-integer", b'{"model": "m", "cost": ' + b"9" * 100_000 + b"}", "cost"),
    bad(
        "tokens-100k-digit-integer",
        b'{"model": "m", "input_tokens": ' + b"9" * 100_000 + b"}",
        "input_tokens",
    ),
    bad(
        "tokens-100k-digit-negative",
        b'{"model": "m", "input_tokens": -' + b"9" * 100_000 + b"}",
        "input_tokens",
    ),
    # --- timestamps -----------------------------------------------------------------------------
    bad("timestamp-naive", ev(timestamp="2024-06-01T12:00:00"), "timestamp"),
    bad("timestamp-date-only", ev(timestamp="2024-06-01"), "timestamp"),
    bad("timestamp-feb-30", ev(timestamp="2024-02-30T00:00:00Z"), "timestamp"),
    bad("timestamp-hour-25", ev(timestamp="2024-06-01T25:00:00Z"), "timestamp"),
    bad("timestamp-offset-25h", ev(timestamp="2024-06-01T12:00:00+25:00"), "timestamp"),
    bad("timestamp-year-9999", ev(timestamp="9999-12-31T23:59:59-23:59"), "timestamp"),
    bad("timestamp-year-1", ev(timestamp="0001-01-01T00:00:00+23:59"), "timestamp"),
    bad("timestamp-100k", ev(timestamp="2024-06-01T12:00:00Z" + "0" * 100_000), "timestamp"),
    bad("timestamp-empty", ev(timestamp=""), "timestamp"),
    # --- cross-field ---------------------------------------------------------------------------
    bad("entity-type-alone", ev(entity_type="customer"), "entity_id"),
    bad("entity-id-alone", ev(entity_id="acme"), "entity_type"),
]


def test_corpus_is_large_and_ids_are_unique() -> None:
    assert len(CORPUS) >= 60
    assert len({case.id for case in CORPUS}) == len(CORPUS)


def _assert_nothing_stored() -> None:
    assert Event.objects.count() == 0
    assert PendingRollup.objects.count() == 0


@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.id)
def test_single_endpoint_names_the_field(client: KeyClient, case: Case) -> None:
    assert_field_error(post_raw(client, EVENTS, case.raw), case.field)
    _assert_nothing_stored()


@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.id)
def test_batch_endpoint_rejects_the_case_as_its_whole_body(client: KeyClient, case: Case) -> None:
    # An event object is not a batch body: `events` is missing or a field is unknown there.
    body = json_error_body(post_raw(client, BATCH, case.raw), 400)
    fields = named_fields(body)
    assert fields, body
    for reasons in fields.values():
        assert_plain_reasons(reasons)
    _assert_nothing_stored()


@pytest.mark.parametrize(
    "case", [case for case in CORPUS if case.item_field], ids=lambda case: case.id
)
def test_batch_item_names_the_field(client: KeyClient, case: Case) -> None:
    raw = b'{"events": [' + case.raw + b"]}"
    body = json_error_body(post_raw(client, BATCH, raw), 400)
    fields = named_fields(body)
    assert case.item_field in fields, f"{case.item_field!r} not named in {list(fields)[:5]}"
    assert_plain_reasons(fields[case.item_field])
    if isinstance(body["errors"], list):
        assert body["rejected"] == 1
        assert body["accepted"] == 0
        assert body["errors"][0]["index"] == 0
    _assert_nothing_stored()


@pytest.mark.parametrize(
    "case", [case for case in CORPUS if case.item_field], ids=lambda case: case.id
)
def test_bad_item_beside_a_good_one_is_207(client: KeyClient, case: Case) -> None:
    raw = b'{"events": [' + ev(event_id="good") + b", " + case.raw + b"]}"
    response = post_raw(client, BATCH, raw)
    if case.item_field == "body":  # the batch is not JSON: nothing can be read from it
        assert_field_error(response, "body")
        _assert_nothing_stored()
        return
    if case.id.startswith("duplicate-"):  # a duplicate key anywhere refuses the whole body
        assert_field_error(response, case.item_field)
        _assert_nothing_stored()
        return
    assert response.status_code == 207, response.content[:2000]
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert body["errors"][0]["index"] == 1
    assert case.item_field in body["errors"][0]["errors"]
    assert list(Event.objects.values_list("event_id", flat=True)) == ["good"]


# --- valid unicode: accepted and stored exactly -------------------------------------------------

VALID_UNICODE = [
    ("arabic-rtl", "مرحبا بالعالم"),
    ("hebrew-rtl", "שלום עולם"),
    ("rtl-override", "abc\u202edef"),
    ("emoji", "🚀🔥💸"),
    ("emoji-zwj-family", "👩\u200d👩\u200d👧\u200d👦"),
    ("emoji-skin-tone", "👍🏽"),
    ("flag", "🇺🇦"),
    ("combining-acute", "e\u0301te\u0301"),  # not normalized: stored as sent
    ("zalgo", "z\u0351\u0352\u0357a\u0300\u0301l\u0302g\u0303o\u0304"),
    ("cjk", "会话-セッション-세션"),
    ("astral-math", "\U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522"),
    ("zero-width", "a\u200bb\u200cc\u200dd\ufeffe"),
    ("line-separator", "a\u2028b\u2029c"),
    ("replacement-char", "\ufffd"),
    ("nonchar", "\uffff\U0010ffff"),
]


@pytest.mark.parametrize(("name", "text"), VALID_UNICODE, ids=[n for n, _ in VALID_UNICODE])
@pytest.mark.parametrize("ascii_escaped", [True, False], ids=["escaped", "utf8"])
def test_valid_unicode_is_accepted_and_stored_exactly(
    client: KeyClient, name: str, text: str, ascii_escaped: bool
) -> None:
    payload = {
        "event_id": f"{name}-{text}",
        "model": f"model-{text}",
        "provider": text[:64],
        "entity_type": text,
        "entity_id": f"{text}/id",
        "session_id": f"session {text}",
        "cost": 0.25,
        "tags": {text: text, "plain": f"value {text}"},
    }
    raw = json.dumps(payload, ensure_ascii=ascii_escaped).encode()
    response = post_raw(client, EVENTS, raw)
    assert response.status_code == 202, response.content
    assert response.json() == {"event_id": payload["event_id"], "duplicate": False}
    stored = Event.objects.get(event_id=payload["event_id"])
    for field in ("model", "provider", "entity_type", "entity_id", "session_id", "tags"):
        assert getattr(stored, field) == payload[field], field
    assert stored.cost_nanos == 250_000_000


def test_valid_unicode_batch_is_accepted(client: KeyClient) -> None:
    events = [
        {"event_id": f"u-{i}", "model": text, "session_id": text, "tags": {text: text}}
        for i, (_, text) in enumerate(VALID_UNICODE)
    ]
    raw = json.dumps({"events": events}, ensure_ascii=False).encode()
    response = post_raw(client, BATCH, raw)
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == len(VALID_UNICODE)
    stored = dict(Event.objects.values_list("event_id", "session_id"))
    assert stored == {f"u-{i}": text for i, (_, text) in enumerate(VALID_UNICODE)}
