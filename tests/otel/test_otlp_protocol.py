"""OTLP/HTTP protocol rules of POST /v1/otel/v1/traces: encodings, answers, errors, limits."""

import gzip
from typing import Any

import orjson
import pytest
from rest_framework.test import APIClient

from infraprism.models import ApiKey
from tests.otel.helpers import TRACES, export_answer, json_answer, post, status_answer, stored
from tests.otel.spans import (
    JSON,
    PROTOBUF,
    T0_NS,
    chat,
    json_body,
    llm_call,
    protobuf_body,
    recording,
)

pytestmark = pytest.mark.django_db

# The example request of the OTLP specification's JSON encoding: hex ids, enum numbers, int64 as
# strings, and an unknown field that a receiver must ignore.
SPEC_STYLE_JSON = {
    "resourceSpans": [
        {
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": "chatbot"}}]
            },
            "scopeSpans": [
                {
                    "scope": {"name": "manual"},
                    "spans": [
                        {
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "eee19b7ec3c1b174",
                            "parentSpanId": "eee19b7ec3c1b173",
                            "name": "chat gpt-4o-mini",
                            "kind": 3,
                            "startTimeUnixNano": "1748779200000000000",
                            "endTimeUnixNano": "1748779200250000000",
                            "status": {"code": 2, "message": "boom"},
                            "someFutureField": {"ignored": True},
                            "attributes": [
                                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                                {
                                    "key": "gen_ai.request.model",
                                    "value": {"stringValue": "gpt-4o-mini"},
                                },
                                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "42"}},
                                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 7}},
                                {"key": "session.id", "value": {"stringValue": "json-1"}},
                            ],
                        }
                    ],
                }
            ],
        }
    ]
}
SPEC_EVENT_ID = "5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174"


def _one_chat_span() -> list[Any]:
    with recording() as (tracer, spans):
        llm_call(tracer, chat(**{"gen_ai.usage.input_tokens": 3}))
    return spans


def test_json_as_the_specification_writes_it(client: Any) -> None:
    response = post(client, orjson.dumps(SPEC_STYLE_JSON), content_type=JSON)
    assert json_answer(response) == {}  # an empty ExportTraceServiceResponse: all accepted
    event = stored(client.organization.pk)[SPEC_EVENT_ID]
    assert (event["input_tokens"], event["output_tokens"], event["latency_ms"]) == (42, 7, 250)
    assert (event["status"], event["session_id"]) == ("error", "json-1")


def test_the_answer_is_in_the_request_encoding(client: Any) -> None:
    spans = _one_chat_span()
    as_protobuf = post(client, protobuf_body(spans))
    assert as_protobuf["Content-Type"] == PROTOBUF
    assert as_protobuf.content == b""  # an empty message is zero bytes
    as_json = post(client, json_body(spans), content_type=f"{JSON}; charset=utf-8")
    assert as_json["Content-Type"] == JSON
    assert json_answer(as_json) == {}


def test_partial_success_in_json_uses_otlp_json_names(client: Any) -> None:
    with recording() as (tracer, spans):
        llm_call(tracer, chat(**{"gen_ai.usage.input_tokens": -1}))
    partial = json_answer(post(client, json_body(spans), content_type=JSON))["partialSuccess"]
    assert partial["rejectedSpans"] == "1"  # int64 as a string, as OTLP/JSON writes it
    assert "gen_ai.usage.input_tokens: must be an integer >= 0" in partial["errorMessage"]


def test_reexporting_the_same_spans_changes_nothing(client: Any, rollup: Any) -> None:
    with recording() as (tracer, spans):
        for i in range(3):
            attributes = chat(**{"session.id": "again", "gen_ai.usage.input_tokens": 100})
            llm_call(tracer, attributes, start_ns=T0_NS + i)
    export_answer(post(client, protobuf_body(spans)))
    rollup()
    first = client.get("/v1/analytics/sessions/again").json()["data"]
    for body, content_type in ((protobuf_body(spans), PROTOBUF), (json_body(spans), JSON)):
        answer = export_answer(post(client, body, content_type=content_type))
        assert not answer.HasField("partial_success")
    rollup()
    assert client.get("/v1/analytics/sessions/again").json()["data"] == first
    assert first["turn_count"] == 3
    assert len(stored(client.organization.pk)) == 3


def test_gzip_bodies_in_both_encodings(client: Any) -> None:
    spans = _one_chat_span()
    for body, content_type in ((protobuf_body(spans), PROTOBUF), (json_body(spans), JSON)):
        response = post(
            client, gzip.compress(body), content_type=content_type, HTTP_CONTENT_ENCODING="gzip"
        )
        export_answer(response)
    assert len(stored(client.organization.pk)) == 1


def test_malformed_protobuf_is_a_400_status_in_protobuf(client: Any) -> None:
    for body in (b"\xff\xff\xff\xff", b"\x0a\x05abc", b"\x0a\xff\xff\xff\xff\x0f"):
        response = post(client, body)
        assert response.status_code == 400, body
        status = status_answer(response)
        assert status.code == 3  # INVALID_ARGUMENT
        assert "not a valid protobuf ExportTraceServiceRequest" in status.message


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'"text"',
        b'{"resourceSpans": 5}',
        b'{"resourceSpans": [5]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 12}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"key": 1}]}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": {"a": 1}}]}]}]}',
        b"[" * 5000 + b"]" * 5000,
        b'{"resourceSpans": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3001,
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "-1"}]}]}]}',
        b"\xef\xbb\xbf\xff",
    ],
)
def test_malformed_json_is_a_400_naming_the_body(client: Any, body: bytes) -> None:
    response = post(client, body, content_type=JSON)
    assert response.status_code == 400, response.content
    data = json_answer(response)
    assert data["error"] == "invalid_request"
    assert data["code"] == 3
    assert data["errors"]["body"]
    assert data["message"] == data["detail"]


def test_spans_with_impossible_values_are_rejected_not_500(client: Any) -> None:
    far_future = 2**63 - 1
    document = orjson.loads(json_body(_one_chat_span()))
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    variants = [
        {"startTimeUnixNano": str(far_future), "endTimeUnixNano": str(far_future)},
        {"startTimeUnixNano": "0"},
        {"endTimeUnixNano": "1"},
        {"traceId": "00000000000000000000000000000000"},
        {"spanId": "abcd"},
    ]
    for i, change in enumerate(variants):
        varied = orjson.loads(orjson.dumps(document))
        target = varied["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        target.update({**span, **change, "spanId": change.get("spanId", f"{i + 1:016x}")})
        answer = export_answer(post(client, orjson.dumps(varied), content_type=JSON))
        assert answer.partial_success.rejected_spans == 1, change
    assert stored(client.organization.pk) == {}


def test_empty_protobuf_request_is_a_success(client: Any) -> None:
    answer = export_answer(post(client, b""))
    assert not answer.HasField("partial_success")


def test_unsupported_content_type_and_encoding_are_415(client: Any) -> None:
    spans = _one_chat_span()
    response = post(client, protobuf_body(spans), content_type="text/plain")
    assert response.status_code == 415
    assert json_answer(response)["errors"]["Content-Type"]
    response = post(client, protobuf_body(spans), HTTP_CONTENT_ENCODING="deflate")
    assert response.status_code == 415
    assert "Content-Encoding" in status_answer(response).message


def test_body_limit_applies_after_decompression(client: Any, settings: Any) -> None:
    settings.MAX_BODY_BYTES = 10_000
    big = protobuf_body(_one_chat_span()) + b"\x52\x00" * 20_000  # unknown field 10, padding
    response = post(client, gzip.compress(big), HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert status_answer(response).code == 8  # RESOURCE_EXHAUSTED
    assert "limit once decompressed" in status_answer(response).message


def test_authentication_and_scope_errors_are_statuses(client_for: Any, org: Any) -> None:
    body = protobuf_body(_one_chat_span())
    anonymous = APIClient()
    response = post(anonymous, body)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert status_answer(response).code == 16  # UNAUTHENTICATED
    read_only = client_for(org, scopes=(ApiKey.SCOPE_READ,))
    response = post(read_only, body)
    assert response.status_code == 403
    assert status_answer(response).code == 7  # PERMISSION_DENIED
    assert "ingest" in status_answer(response).message
    response = post(read_only, body, content_type=JSON)
    assert response.status_code == 403
    assert json_answer(response)["error"] == "permission_denied"
    assert stored(org.pk) == {}


def test_other_methods_are_405(client: Any) -> None:
    response = client.get(TRACES)
    assert response.status_code == 405
    assert json_answer(response)["code"] == 12
