"""The sender on the wire, against a local batch sink that answers what each test scripts:
gzip and auth, batching, retries that keep event ids, Retry-After, 207 rejections, a full
queue, an unreachable InfraPrism, reporting turned off, keys kept out of logs."""

from __future__ import annotations

import logging
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from infraprism._config import resolve_config
from infraprism._events import encode_batch
from infraprism._sender import Sender
from infraprism._transport import parse_retry_after
from tests.conftest import ClientFactory
from tests.support.fake_openai import FakeOpenAI
from tests.support.live_server import wait_until
from tests.support.sink import Answer, Sink

KEY = "ip-sender-test-key-0123456789abcdefghijkl"
MESSAGES = [{"role": "user", "content": "Hello"}]


def chat(client: Any, **attribution: Any) -> Any:
    return client.chat.completions.create(model="gpt-4o", messages=MESSAGES, **attribution)


def test_batches_are_gzip_with_the_key_and_carry_every_field(
    make_client: ClientFactory, sink: Sink, fake_openai: FakeOpenAI
) -> None:
    client = make_client(infraprism_base_url=sink.base_url, infraprism_api_key=KEY)
    response = chat(
        client,
        entity_type="customer",
        entity_id="acme-corp",
        session_id="conv-1",
        tags={"feature": "chatbot"},
    )
    assert client.flush(timeout=10)
    [request] = sink.requests
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    [event] = request.events
    upstream = fake_openai.calls[-1]
    assert event["model"] == response.model == "gpt-4o-2024-08-06"
    assert event["provider"] == "openai"
    assert event["input_tokens"] == upstream.usage["input"]
    assert event["output_tokens"] == upstream.usage["output"]
    assert event["cached_input_tokens"] == upstream.usage["cached"]
    assert (event["entity_type"], event["entity_id"], event["session_id"]) == (
        "customer",
        "acme-corp",
        "conv-1",
    )
    assert event["tags"] == {"feature": "chatbot"}
    assert event["status"] == "success"
    assert "cost" not in event  # the server prices it
    assert uuid.UUID(event["event_id"]).version == 4
    assert datetime.fromisoformat(event["timestamp"]).tzinfo is not None
    assert isinstance(event["latency_ms"], int)
    # The keywords never reached OpenAI (the fake upstream answers 400 if they do).
    assert not {"entity_type", "session_id", "tags"} & set(upstream.body)


def test_given_event_id_and_exact_decimal_cost_are_sent(
    make_client: ClientFactory, sink: Sink
) -> None:
    client = make_client(infraprism_base_url=sink.base_url, infraprism_api_key=KEY)
    chat(client, event_id="my-idempotency-key", cost=Decimal("0.000000123456789"))
    assert client.flush(timeout=10)
    [event] = sink.accepted_events()
    assert event["event_id"] == "my-idempotency-key"
    assert event["cost"] == pytest.approx(0.000000123456789)
    body = encode_batch([{"model": "m", "cost": Decimal("0.000000123456789")}])
    assert body == b'{"events":[{"model":"m","cost":0.000000123456789}]}'


def test_application_ids_are_sent_as_text(make_client: ClientFactory, sink: Sink) -> None:
    client = make_client(infraprism_base_url=sink.base_url, infraprism_api_key=KEY)
    conversation_id = uuid.UUID("550e8400-e29b-41d4-a716-446655440000")
    chat(client, entity_type="customer", entity_id=42, session_id=conversation_id, tags={"n": 7})
    assert client.flush(timeout=10)
    [event] = sink.accepted_events()
    assert (event["entity_id"], event["session_id"]) == ("42", str(conversation_id))
    assert event["tags"] == {"n": "7"}


def test_a_hundred_queued_events_are_sent_without_waiting_for_the_interval(sink: Sink) -> None:
    config = resolve_config(
        api_key=KEY,
        base_url=sink.base_url,
        max_queue_size=10_000,
        flush_interval=3600,  # only the batch size can trigger a send
        exit_timeout=5,
        max_backoff=1,
    )
    sender = Sender(config)
    try:
        for number in range(99):
            sender.enqueue({"model": "gpt-4o", "tags": {"n": str(number)}})
        # No condition to wait for: this checks that a send does NOT happen, so give the sender
        # thread a moment in which it would have sent.
        time.sleep(0.5)
        assert sink.requests == []  # 99 wait for the interval
        sender.enqueue({"model": "gpt-4o", "tags": {"n": "99"}})
        wait_until(lambda: len(sink.accepted_events()) == 100, timeout=10, what="the batch")
        assert [e["tags"]["n"] for e in sink.accepted_events()] == [str(n) for n in range(100)]
    finally:
        sender.close()


def test_a_backlog_goes_out_in_batches_of_at_most_a_thousand(sink: Sink) -> None:
    config = resolve_config(
        api_key=KEY,
        base_url=sink.base_url,
        max_queue_size=10_000,
        flush_interval=3600,
        exit_timeout=5,
        max_backoff=1,
    )
    sender = Sender(config)
    try:
        # A backlog: 2,499 events already queued (as after an outage), then one more.
        sender._queue.extend({"model": "m", "tags": {"n": str(n)}} for n in range(2499))
        sender.enqueue({"model": "m", "tags": {"n": "2499"}})
        assert sender.flush(timeout=20)
        sizes = [len(r.events) for r in sink.requests]
        assert sum(sizes) == 2500 and max(sizes) == 1000
        assert [e["tags"]["n"] for e in sink.accepted_events()] == [str(n) for n in range(2500)]
    finally:
        sender.close()


def test_retries_keep_event_ids_and_honour_retry_after(
    make_client: ClientFactory, sink: Sink, sdk_log: pytest.LogCaptureFixture
) -> None:
    sink.answer_next(
        Answer(503, {"error": {"message": "down"}}),
        Answer(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"}),
    )
    client = make_client(
        infraprism_base_url=sink.base_url, infraprism_api_key=KEY, infraprism_max_backoff=0.2
    )
    chat(client)
    chat(client)
    assert client.flush(timeout=20)
    statuses = [r.status for r in sink.requests]
    assert statuses == [503, 429, 202]
    ids = [[e["event_id"] for e in r.events] for r in sink.requests]
    assert ids[0] == ids[1] == ids[2] and len(set(ids[0])) == 2
    waits: list[Any] = [r.args for r in sdk_log.records if "retrying" in r.getMessage()]
    assert waits[0][0] == "HTTP 503" and waits[1][0] == "HTTP 429"
    assert waits[1][2] >= 1.0  # the 429's Retry-After, not the 0.2 s backoff ceiling


def test_retry_after_as_seconds_or_http_date() -> None:
    now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7
    later = (now + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(later, now=now) == 30
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_rejected_items_of_a_207_are_logged_and_dropped(
    make_client: ClientFactory, sink: Sink, sdk_log: pytest.LogCaptureFixture
) -> None:
    client = make_client(infraprism_base_url=sink.base_url, infraprism_api_key=KEY)
    chat(client, session_id="ok")
    chat(client, entity_type="customer")  # no entity_id: the server would refuse this one
    rejected_error = {"entity_id": ["entity_type and entity_id go together"]}
    sink.answer_next(
        Answer(
            207,
            {
                "accepted": 1,
                "duplicates": 0,
                "rejected": 1,
                "errors": [{"index": 1, "event_id": "e-2", "errors": rejected_error}],
            },
        )
    )
    assert client.flush(timeout=10)
    assert len(sink.requests) == 1  # not retried
    sender = client._infraprism_reporter.sender
    assert (sender.stats.delivered, sender.stats.rejected) == (1, 1)
    [message] = [
        r.getMessage()
        for r in sdk_log.records
        if r.name == "infraprism" and "rejected event" in r.getMessage()
    ]
    assert "e-2" in message and "index 1" in message and "go together" in message


def test_a_full_queue_drops_the_oldest_and_counts(sink: Sink) -> None:
    config = resolve_config(
        api_key=KEY,
        base_url=sink.base_url,
        max_queue_size=5,
        flush_interval=3600,
        exit_timeout=5,
        max_backoff=1,
    )
    sender = Sender(config)
    sender._config = type(config)(**{**_fields(config), "batch_size": 10})
    try:
        for number in range(8):
            sender.enqueue({"model": "m", "tags": {"n": str(number)}})
        assert sender.stats.dropped == 3
        assert sender.flush(timeout=10)
        assert [e["tags"]["n"] for e in sink.accepted_events()] == ["3", "4", "5", "6", "7"]
    finally:
        sender.close()


def _fields(config: Any) -> dict[str, Any]:
    return {name: getattr(config, name) for name in config.__slots__}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable_infraprism_never_breaks_the_llm_call(make_client: ClientFactory) -> None:
    client = make_client(
        infraprism_base_url=f"http://127.0.0.1:{_closed_port()}",
        infraprism_api_key=KEY,
        infraprism_max_backoff=0.05,
        infraprism_exit_timeout=0.5,
    )
    response = chat(client, entity_type="customer", entity_id="acme-corp")
    assert response.choices[0].message.content
    assert client.flush(timeout=0.5) is False  # still retrying, and nothing raised
    assert client.flush() is False  # bounded by the exit timeout by default, never forever
    client.close()
    assert client._infraprism_reporter.sender.stats.failed == 1


def test_failed_llm_calls_are_reported_with_their_error_type(
    make_client: ClientFactory, sink: Sink, fake_openai: FakeOpenAI
) -> None:
    from openai import RateLimitError

    from tests.support.fake_openai import Failure

    client = make_client(infraprism_base_url=sink.base_url, infraprism_api_key=KEY, max_retries=0)
    fake_openai.fail_next(Failure(status=429, retry_after="0"))
    with pytest.raises(RateLimitError):
        chat(client, session_id="failing", tags={"feature": "x"})
    assert client.flush(timeout=10)
    [event] = sink.accepted_events()
    assert event["status"] == "error"
    assert event["tags"] == {"error_type": "RateLimitError", "feature": "x"}
    assert event["model"] == "gpt-4o"  # nobody answered: the model asked for
    assert "input_tokens" not in event and "output_tokens" not in event


def test_disabled_reporting_sends_nothing_and_still_strips_the_keywords(
    make_client: ClientFactory, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFRAPRISM_DISABLED", "1")
    client = make_client(infraprism_base_url=sink.base_url, infraprism_api_key=KEY)
    assert chat(client, entity_type="customer", entity_id="acme-corp", session_id="s")
    assert client.flush(timeout=1)
    assert sink.requests == []


def test_keys_never_appear_in_logs(
    make_client: ClientFactory, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx2's included
    sink.answer_next(Answer(401, {"error": {"message": "unknown API key"}}))
    client = make_client(infraprism_base_url=sink.base_url, infraprism_api_key=KEY)
    chat(client)
    assert client.flush(timeout=10)
    assert any("HTTP 401" in r.getMessage() for r in caplog.records)
    text = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert KEY not in text and "sk-fake" not in text


def test_a_server_without_gzip_gets_plain_json(make_client: ClientFactory, sink: Sink) -> None:
    sink.answer_next(Answer(415, {"error": {"message": "Content-Encoding gzip unsupported"}}))
    client = make_client(infraprism_base_url=sink.base_url, infraprism_api_key=KEY)
    chat(client)
    assert client.flush(timeout=10)
    assert [r.headers.get("Content-Encoding") for r in sink.requests] == ["gzip", None]
    assert len(sink.accepted_events()) == 1


def test_azure_endpoints_are_reported_as_provider_azure(make_client: ClientFactory) -> None:
    azure = make_client(
        infraprism_base_url="http://127.0.0.1:9",
        infraprism_api_key=KEY,
        base_url="https://my-resource.openai.azure.com/openai/v1",
    )
    plain = make_client(infraprism_base_url="http://127.0.0.1:9", infraprism_api_key=KEY)
    assert azure._infraprism_reporter.provider == "azure"
    assert plain._infraprism_reporter.provider == "openai"
