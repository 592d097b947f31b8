"""AsyncInfraPrismOpenAI against the fake upstream and the live server: chat (plain and
streamed, fully read, broken out of, `async with`), responses and embeddings."""

from __future__ import annotations

import asyncio
import uuid

from infraprism import AsyncInfraPrismOpenAI
from tests.conftest import expected_cost
from tests.support.fake_openai import FakeOpenAI
from tests.support.live_server import LiveServer

MESSAGES = [{"role": "user", "content": "Hello from asyncio"}]


def test_async_client_reports_every_kind_of_call(live: LiveServer, fake_openai: FakeOpenAI) -> None:
    session_id = f"async-{uuid.uuid4()}"
    attribution = {
        "entity_type": "customer",
        "entity_id": "async-corp",
        "session_id": session_id,
        "tags": {"feature": "async"},
    }
    before = len(fake_openai.calls)

    async def run() -> None:
        client = AsyncInfraPrismOpenAI(
            api_key="sk-fake",
            base_url=fake_openai.base_url,
            infraprism_api_key=live.api_key,
            infraprism_base_url=live.url,
        )
        try:
            reply = await client.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, **attribution
            )
            assert reply.choices[0].message.content

            streamed = await client.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, stream=True, **attribution
            )
            chunks = [chunk async for chunk in streamed]
            assert all(chunk.choices for chunk in chunks)  # usage chunk hidden

            async with await client.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, stream=True, **attribution
            ) as finished:
                async for chunk in finished:
                    if chunk.choices[0].finish_reason:
                        break

            broken = await client.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, stream=True, **attribution
            )
            async for _chunk in broken:
                break
            await broken.aclose()

            response = await client.responses.create(model="gpt-4o", input="Hi", **attribution)
            assert response.output_text
            embedding = await client.embeddings.create(
                model="text-embedding-3-small", input=["a", "b"], **attribution
            )
            assert len(embedding.data) == 2
            assert await client.flush(timeout=20)
        finally:
            await client.close()

    asyncio.run(run())
    calls = fake_openai.calls[before:]
    assert len(calls) == 6
    session = live.wait_for_session(session_id, turns=6)
    reported = session["calls"]
    assert [c["status"] for c in reported] == [
        "success",
        "success",
        "success",
        "error",
        "success",
        "success",
    ]
    assert [c["model"] for c in reported] == ["gpt-4o-2024-08-06"] * 5 + ["text-embedding-3-small"]
    for call, upstream in zip(reported, calls, strict=True):
        if call["status"] == "success":
            assert call["input_tokens"] == upstream.usage["input"]
            assert call["output_tokens"] == upstream.usage["output"]
    assert reported[3]["input_tokens"] == 0  # broken out of before the usage: unknown
    # Tags merge over the session: the interrupted call's error type shows there too.
    assert session["tags"] == {"feature": "async", "error_type": "StreamClosedEarly"}
    assert session["entity_id"] == "async-corp"
    # Chat calls priced exactly by the price table.
    assert str(reported[0]["cost"]) == str(
        expected_cost(
            input_tokens=calls[0].usage["input"],
            output_tokens=calls[0].usage["output"],
            cached=calls[0].usage["cached"],
        ).normalize()
    )
