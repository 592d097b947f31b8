"""Streaming through InfraPrismOpenAI against the fake upstream, reported to the live server:
consumed fully, broken out of, closed early, left through `with`, cut by the upstream, and
openai's `.stream()` helper. Each stream is one call in its session, reported exactly once."""

from __future__ import annotations

import gc
import uuid
from typing import Any

import openai
import pytest

from tests.conftest import ClientFactory
from tests.support.fake_openai import Failure, FakeOpenAI
from tests.support.live_server import LiveServer
from tests.support.sink import Sink

MESSAGES = [{"role": "user", "content": "Tell me about sessions"}]


def new_session() -> str:
    return f"stream-{uuid.uuid4()}"


def stream(client: Any, session_id: str, **kwargs: Any) -> Any:
    return client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, session_id=session_id, **kwargs
    )


@pytest.fixture
def live_client(make_client: ClientFactory, live: LiveServer) -> Any:
    return make_client(infraprism_base_url=live.url, infraprism_api_key=live.api_key)


def test_a_fully_consumed_stream_reports_the_upstream_usage_and_hides_the_usage_chunk(
    live_client: Any, live: LiveServer, fake_openai: FakeOpenAI
) -> None:
    session_id = new_session()
    chunks = list(stream(live_client, session_id))
    upstream = fake_openai.calls[-1]
    # The SDK asked for usage; the caller, who did not, never sees the usage-only chunk.
    assert upstream.body["stream_options"] == {"include_usage": True}
    assert all(chunk.choices[0] is not None for chunk in chunks)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text.startswith("Answer to turn")

    assert live_client.flush(timeout=20)
    session = live.wait_for_session(session_id, turns=1)
    [call] = session["calls"]
    assert call["status"] == "success"
    assert (call["input_tokens"], call["output_tokens"], call["cached_input_tokens"]) == (
        upstream.usage["input"],
        upstream.usage["output"],
        upstream.usage["cached"],
    )
    assert call["model"] == "gpt-4o-2024-08-06"


def test_a_caller_who_asked_for_usage_gets_the_usage_chunk(
    live_client: Any, live: LiveServer, fake_openai: FakeOpenAI
) -> None:
    session_id = new_session()
    chunks = list(stream(live_client, session_id, stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert live_client.flush(timeout=20)
    [call] = live.wait_for_session(session_id, turns=1)["calls"]
    assert call["input_tokens"] == chunks[-1].usage.prompt_tokens


def test_break_close_and_with_are_each_reported_once(
    live_client: Any, live: LiveServer, fake_openai: FakeOpenAI
) -> None:
    session_id = new_session()

    # 1. Broken out of after the first chunk, then abandoned: an interrupted call.
    abandoned = stream(live_client, session_id)
    for _chunk in abandoned:
        break
    del abandoned
    gc.collect()

    # 2. Closed early by the caller.
    closed = stream(live_client, session_id)
    next(closed)
    closed.close()
    closed.close()  # twice: still one report

    # 3. Read up to the finish_reason and left through `with`: the usage chunk was on its way,
    #    so the call is complete and its tokens known.
    with stream(live_client, session_id) as finished:
        for chunk in finished:
            if chunk.choices[0].finish_reason:
                break
    usage_of_third = fake_openai.calls[-1].usage

    # 4. Fully consumed inside `with`.
    with stream(live_client, session_id) as full:
        assert len(list(full)) > 1

    assert live_client.flush(timeout=20)
    session = live.wait_for_session(session_id, turns=4)
    calls = session["calls"]
    assert session["turn_count"] == 4 and len(calls) == 4
    assert [c["status"] for c in calls] == ["error", "error", "success", "success"]
    # Interrupted calls carry no token counts (the SDK leaves them out: unknown).
    assert [c["input_tokens"] for c in calls[:2]] == [0, 0]
    assert calls[0]["tags"] == {"error_type": "StreamClosedEarly"}
    assert calls[2]["input_tokens"] == usage_of_third["input"]
    assert session["error_count"] == 2


def test_interrupted_streams_leave_tokens_out(
    make_client: ClientFactory, sink: Sink, fake_openai: FakeOpenAI
) -> None:
    """On the wire: an interrupted stream's event has no token fields at all (not zeros)."""
    client = make_client(
        infraprism_base_url=sink.base_url, infraprism_api_key="ip-x", max_retries=0
    )
    fake_openai.fail_next(Failure(cut_after=2))
    cut = stream(client, "cut")
    with pytest.raises(openai.APIConnectionError):
        for _chunk in cut:
            pass
    early = stream(client, "early")
    next(early)
    early.close()
    responses_early = client.responses.create(model="gpt-4o", input="Hi", stream=True)
    assert next(responses_early).type == "response.created"
    responses_early.close()
    assert client.flush(timeout=10)
    events = sink.accepted_events()
    assert [e["status"] for e in events] == ["error", "error", "error"]
    assert events[0]["tags"] == {"error_type": "APIConnectionError"}
    assert events[1]["tags"] == {"error_type": "StreamClosedEarly"}
    assert events[2]["tags"] == {"error_type": "StreamClosedEarly"}
    # The model that answered is known from the first chunk or event, even when cut short.
    assert {e["model"] for e in events} == {"gpt-4o-2024-08-06"}
    for event in events:
        assert not {"input_tokens", "output_tokens", "cached_input_tokens"} & set(event)


def test_upstream_cut_mid_stream_is_an_error_at_the_server(
    live_client: Any, live: LiveServer, fake_openai: FakeOpenAI
) -> None:
    session_id = new_session()
    fake_openai.fail_next(Failure(cut_after=2))
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream(live_client.with_options(max_retries=0), session_id):
            received.append(chunk)
    assert len(received) == 2
    assert live_client.flush(timeout=20)
    [call] = live.wait_for_session(session_id, turns=1)["calls"]
    assert call["status"] == "error"
    assert call["tags"] == {"error_type": "APIConnectionError"}


def test_openai_stream_helpers_keep_working_and_are_reported(
    live_client: Any, live: LiveServer, fake_openai: FakeOpenAI
) -> None:
    session_id = new_session()
    raw = stream(live_client, session_id)
    assert raw.response.status_code == 200  # openai's attributes pass through
    raw.close()
    with live_client.chat.completions.stream(model="gpt-4o", messages=MESSAGES) as helper:
        for _event in helper:
            pass
        final = helper.get_final_completion()
    assert final.choices[0].message.content.startswith("Answer to turn")
    upstream = fake_openai.calls[-1].usage
    responses_stream = live_client.responses.create(
        model="gpt-4o", input="Hello", stream=True, session_id=session_id
    )
    kinds = [event.type for event in responses_stream]
    assert kinds[-1] == "response.completed"
    responses_usage = fake_openai.calls[-1].usage
    assert live_client.flush(timeout=20)

    calls = live.wait_for_session(session_id, turns=2)["calls"]
    assert [c["status"] for c in calls] == ["error", "success"]
    assert calls[1]["input_tokens"] == responses_usage["input"]
    # The .stream() helper's call had no session: find it among the organization's events.
    events = live.get("/v1/analytics/events", model="gpt-4o-2024-08-06", limit=1000)["data"]
    assert any(e["session_id"] is None and e["input_tokens"] == upstream["input"] for e in events)
