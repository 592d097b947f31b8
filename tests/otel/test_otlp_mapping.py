"""Span -> event mapping (the table in docs/api.md), through POST /v1/otel/v1/traces.

Spans are made by the real OpenTelemetry SDK and encoded by its OTLP encoder.
"""

from typing import Any

import pytest

from tests.otel.helpers import export_answer, post, stored
from tests.otel.spans import (
    JSON,
    T0_NS,
    chat,
    json_body,
    llm_call,
    protobuf_body,
    recording,
)

pytestmark = pytest.mark.django_db


def _ids(spans: list[Any]) -> list[str]:
    return [f"{s.context.trace_id:032x}-{s.context.span_id:016x}" for s in spans]


def test_current_convention_names_map_to_every_event_field(client: Any) -> None:
    attributes = chat(
        **{
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 500,
            "gen_ai.usage.cache_read.input_tokens": 200,
            "infraprism.session_id": "conv-1",
            "infraprism.entity_type": "customer",
            "infraprism.entity_id": "acme",
            "infraprism.tag.feature": "support-bot",
            "infraprism.tag.tier": 2,
        }
    )
    with recording() as (tracer, spans):
        llm_call(tracer, attributes, duration_ms=1234)
    answer = export_answer(post(client, protobuf_body(spans)))

    assert not answer.HasField("partial_success")
    event = stored(client.organization.pk)[_ids(spans)[0]]
    assert event["model"] == "gpt-4o-mini-2024-07-18"  # response model wins over request
    assert event["provider"] == "openai"
    assert (event["input_tokens"], event["output_tokens"], event["cached_input_tokens"]) == (
        1000,
        500,
        200,
    )
    assert event["session_id"] == "conv-1"
    assert (event["entity_type"], event["entity_id"]) == ("customer", "acme")
    assert event["tags"] == {"feature": "support-bot", "tier": "2"}
    assert event["latency_ms"] == 1234
    assert event["timestamp"].timestamp() == T0_NS / 1e9
    assert event["status"] == "success"
    # Priced from the table: (800 x 0.15 + 200 x 0.075 + 500 x 0.60) / 1e6 USD.
    assert (event["cost_nanos"], event["cost_source"]) == (435_000, "computed")


def test_deprecated_names_are_read_when_current_ones_are_absent(client: Any) -> None:
    attributes = {
        "gen_ai.operation.name": "text_completion",
        "gen_ai.system": "anthropic",
        "gen_ai.request.model": "claude-3-5-haiku-20241022",
        "gen_ai.usage.prompt_tokens": 10,
        "gen_ai.usage.completion_tokens": 20,
        "gen_ai.conversation.id": "conv-2",
        "user.id": "u-7",
    }
    with recording() as (tracer, spans):
        llm_call(tracer, attributes)
    export_answer(post(client, protobuf_body(spans)))

    event = stored(client.organization.pk)[_ids(spans)[0]]
    assert (event["model"], event["provider"]) == ("claude-3-5-haiku-20241022", "anthropic")
    assert (event["input_tokens"], event["output_tokens"]) == (10, 20)
    assert event["session_id"] == "conv-2"
    assert (event["entity_type"], event["entity_id"]) == ("user", "u-7")


def test_openinference_llm_spans_map_and_client_cost_is_exact(client: Any) -> None:
    attributes = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o",
        "llm.provider": "openai",
        "llm.token_count.prompt": 300,
        "llm.token_count.completion": 40,
        "llm.token_count.prompt_details.cache_read": 100,
        "llm.cost.total": 0.0123,
        "session.id": "oi-session",
    }
    with recording() as (tracer, spans):
        llm_call(tracer, attributes)
    export_answer(post(client, protobuf_body(spans)))

    event = stored(client.organization.pk)[_ids(spans)[0]]
    assert (event["model"], event["provider"], event["session_id"]) == (
        "gpt-4o",
        "openai",
        "oi-session",
    )
    assert (event["input_tokens"], event["output_tokens"], event["cached_input_tokens"]) == (
        300,
        40,
        100,
    )
    # The double 0.0123 is read through its shortest repr: exactly 12,300,000 nano-dollars.
    assert (event["cost_nanos"], event["cost_source"]) == (12_300_000, "client")


def test_infraprism_cost_wins_and_may_be_an_exact_decimal_string(client: Any) -> None:
    attributes = chat(**{"infraprism.cost": "0.000000001", "llm.cost.total": 5.0})
    with recording() as (tracer, spans):
        llm_call(tracer, attributes)
    export_answer(post(client, protobuf_body(spans)))
    event = stored(client.organization.pk)[_ids(spans)[0]]
    assert (event["cost_nanos"], event["cost_source"]) == (1, "client")


def test_span_attributes_win_over_resource_attributes(client: Any) -> None:
    resource = {
        "infraprism.session_id": "from-resource",
        "infraprism.entity_type": "team",
        "infraprism.entity_id": "platform",
        "infraprism.tag.env": "prod",
    }
    with recording(resource) as (tracer, spans):
        llm_call(tracer, chat(**{"infraprism.session_id": "from-span"}))
        llm_call(tracer, chat(), start_ns=T0_NS + 10**9)
    export_answer(post(client, protobuf_body(spans)))

    first, second = (stored(client.organization.pk)[i] for i in _ids(spans))
    assert first["session_id"] == "from-span"
    assert second["session_id"] == "from-resource"
    for event in (first, second):
        assert (event["entity_type"], event["entity_id"]) == ("team", "platform")
        assert event["tags"] == {"env": "prod"}


def test_error_status_and_error_type(client: Any) -> None:
    with recording() as (tracer, spans):
        llm_call(tracer, chat(**{"error.type": "RateLimitError"}), error="429 from upstream")
        llm_call(tracer, chat(**{"error.type": "timeout"}), start_ns=T0_NS + 1)
        llm_call(tracer, chat(), start_ns=T0_NS + 2)
    export_answer(post(client, protobuf_body(spans)))

    events = [stored(client.organization.pk)[i] for i in _ids(spans)]
    assert [e["status"] for e in events] == ["error", "error", "success"]
    assert [e["tags"] for e in events] == [
        {"error.type": "RateLimitError"},
        {"error.type": "timeout"},
        {},
    ]


def test_non_genai_spans_are_ignored_not_rejected(client: Any) -> None:
    with recording() as (tracer, spans):
        llm_call(tracer, {"http.request.method": "GET"}, name="GET /")
        llm_call(tracer, {"gen_ai.operation.name": "execute_tool"}, name="tool")
        llm_call(tracer, {"openinference.span.kind": "CHAIN"}, name="chain")
        llm_call(tracer, chat(**{"gen_ai.operation.name": "embeddings"}), name="embed")
    answer = export_answer(post(client, protobuf_body(spans)))
    assert not answer.HasField("partial_success")
    assert list(stored(client.organization.pk)) == [_ids(spans)[3]]


def test_rejected_spans_are_reported_with_the_attribute_at_fault(client: Any) -> None:
    with recording() as (tracer, spans):
        llm_call(tracer, chat(**{"gen_ai.usage.input_tokens": -5}))
        llm_call(tracer, {"gen_ai.operation.name": "chat"}, start_ns=T0_NS + 1)  # no model
        llm_call(tracer, chat(**{"infraprism.entity_type": "customer"}), start_ns=T0_NS + 2)
        llm_call(tracer, chat(**{"gen_ai.usage.output_tokens": "many"}), start_ns=T0_NS + 3)
        llm_call(tracer, chat(), start_ns=T0_NS + 4)
    for body, content_type in ((protobuf_body(spans), None), (json_body(spans), JSON)):
        response = post(client, body, **({"content_type": content_type} if content_type else {}))
        answer = export_answer(response)
        assert answer.partial_success.rejected_spans == 4
        message = answer.partial_success.error_message
        assert message.startswith("4 of 5 GenAI spans rejected: ")
        assert "gen_ai.usage.input_tokens: must be an integer >= 0" in message
        assert "model: send one of gen_ai.response.model" in message
        assert "infraprism.entity_id: entity_type and entity_id must be given together" in message
        assert "gen_ai.usage.output_tokens: must be an integer, not a string" in message
        assert _ids(spans)[0].replace("-", "/") in message
    assert list(stored(client.organization.pk)) == [_ids(spans)[4]]


def test_more_spans_than_one_batch_are_all_stored(client: Any) -> None:
    with recording() as (tracer, spans):
        for i in range(1203):
            llm_call(tracer, chat(**{"infraprism.session_id": f"s-{i % 7}"}), start_ns=T0_NS + i)
    answer = export_answer(post(client, protobuf_body(spans)))
    assert not answer.HasField("partial_success")
    assert len(stored(client.organization.pk)) == 1203
