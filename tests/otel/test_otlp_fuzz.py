"""No input, however malformed, gets a 5xx from POST /v1/otel/v1/traces (SPEC section 9)."""

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otel import mapping
from tests.otel.helpers import post
from tests.otel.spans import JSON, T0_NS, chat, llm_call, recording
from tests.otel.spans import export_request as encode

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
MAPPED_KEYS = [
    *mapping.MODEL,
    *mapping.PROVIDER,
    *mapping.INPUT_TOKENS,
    *mapping.OUTPUT_TOKENS,
    *mapping.CACHED_TOKENS,
    *mapping.SESSION,
    *mapping.COST,
    mapping.ENTITY_TYPE,
    mapping.ENTITY_ID,
    mapping.USER_ID,
    mapping.ERROR_TYPE,
    "infraprism.tag.",
    "infraprism.tag.x",
    "gen_ai.operation.name",
    "openinference.span.kind",
]

scalars = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["NaN", "-Infinity", "1e999999999", "-1", "0.1", "", "\x00", "chat", "LLM"]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.binary(max_size=20),
)


def _any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        any_value = AnyValue()
        any_value.array_value.values.extend(_any_value(v) for v in value)
        return any_value
    return AnyValue(string_value=value)


values = st.one_of(scalars, st.lists(scalars, max_size=3))


@FUZZ
@given(
    attributes=st.dictionaries(st.sampled_from(MAPPED_KEYS), values, max_size=12),
    start=st.integers(min_value=0, max_value=2**64 - 1),
    end=st.integers(min_value=0, max_value=2**64 - 1),
    status=st.integers(min_value=0, max_value=5),
)
def test_any_attribute_values_and_times_are_answered_below_500(
    client: Any, attributes: dict[str, Any], start: int, end: int, status: int
) -> None:
    with recording() as (tracer, spans):
        llm_call(tracer, chat(), start_ns=T0_NS)
    request: ExportTraceServiceRequest = encode(spans)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.start_time_unix_nano, span.end_time_unix_nano = start, end
    span.status.code = status
    for key, value in attributes.items():
        span.attributes.append(KeyValue(key=key, value=_any_value(value)))
    response = post(client, request.SerializeToString())
    assert response.status_code == 200, response.content


@settings(FUZZ, max_examples=150)
@given(key=st.sampled_from(MAPPED_KEYS), value=values)
def test_one_attribute_of_any_type_is_answered_below_500(client: Any, key: str, value: Any) -> None:
    """One attribute at a time, so no earlier field's error hides a later field's handling."""
    with recording() as (tracer, spans):
        llm_call(tracer, chat(), start_ns=T0_NS)
    request: ExportTraceServiceRequest = encode(spans)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.append(KeyValue(key=key, value=_any_value(value)))
    response = post(client, request.SerializeToString())
    assert response.status_code == 200, response.content


@FUZZ
@given(body=st.binary(max_size=300))
def test_arbitrary_bytes_as_protobuf_are_200_or_400(client: Any, body: bytes) -> None:
    assert post(client, body).status_code in (200, 400)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(
            [
                "resourceSpans",
                "scopeSpans",
                "spans",
                "traceId",
                "spanId",
                "attributes",
                "key",
                "value",
                "stringValue",
                "intValue",
                "startTimeUnixNano",
                "resource",
                "links",
            ]
        ),
        children,
        max_size=4,
    ),
    max_leaves=30,
)


@FUZZ
@given(document=json_values)
def test_arbitrary_otlp_shaped_json_is_200_or_400(client: Any, document: Any) -> None:
    response = post(client, json.dumps(document).encode(), content_type=JSON)
    assert response.status_code in (200, 400), response.content
