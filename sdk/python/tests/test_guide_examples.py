"""The guide's chatbot and agent examples, run verbatim against the fake upstream and a live
server; the Analytics API then shows what the upstream reported, priced by the price table.

The guide (shared/seed/sessions-guide.txt) lost its indentation in export, so the examples
are kept in tests/guide/ with indentation restored; the first test proves every line of them
is the guide's own, in the guide's order.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.conftest import expected_cost
from tests.support.fake_openai import Call, FakeOpenAI
from tests.support.live_server import SERVER_DIR, LiveServer, wait_until

EXAMPLES = Path(__file__).parent / "guide"
GUIDE_CANDIDATES = [
    Path(os.environ.get("INFRAPRISM_GUIDE", "/nonexistent")),
    SERVER_DIR.parent / "shared" / "seed" / "sessions-guide.txt",
    SERVER_DIR / "shared" / "seed" / "sessions-guide.txt",
]


def _guide_lines() -> list[str]:
    for path in GUIDE_CANDIDATES:
        if path.is_file():
            return [line.strip() for line in path.read_text().splitlines()]
    pytest.skip("the user guide (shared/seed/sessions-guide.txt) is not beside this checkout")


@pytest.mark.parametrize("example", ["chatbot.txt", "agent.txt"])
def test_examples_are_the_guides_code_line_for_line(example: str) -> None:
    guide = _guide_lines()
    lines = [line.strip() for line in (EXAMPLES / example).read_text().splitlines()]
    start = guide.index(lines[0])
    assert guide[start : start + len(lines)] == lines


def _get_json(live: LiveServer, path: str, **params: Any) -> Any:
    response = httpx2.get(
        f"{live.url}{path}",
        params=params,
        headers={"Authorization": f"Bearer {live.api_key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=Decimal)


def assert_session_matches(session: dict[str, Any], calls: list[Call], *, feature: str) -> None:
    """Turns, tokens, cost and tags of a session against the upstream's own numbers."""
    assert session["turn_count"] == len(calls)
    assert session["input_tokens"] == sum(c.usage["input"] for c in calls)
    assert session["output_tokens"] == sum(c.usage["output"] for c in calls)
    assert Decimal(str(session["total_cost"])) == sum(
        expected_cost(
            input_tokens=c.usage["input"], output_tokens=c.usage["output"], cached=c.usage["cached"]
        )
        for c in calls
    )
    assert session["tags"] == {"feature": feature}
    assert session["models"] == ["gpt-4o-2024-08-06"]
    assert session["error_count"] == 0


def test_chatbot_example_runs_verbatim(guide_env: LiveServer, fake_openai: FakeOpenAI) -> None:
    live = guide_env
    before = len(fake_openai.calls)
    namespace: dict[str, Any] = {"__name__": "guide_chatbot"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec((EXAMPLES / "chatbot.txt").read_text(), namespace)
    assert printed.getvalue().count("Answer to turn") == 3
    client = namespace["client"]
    try:
        assert client.flush(timeout=30)
    finally:
        client.close()
    calls = fake_openai.calls[before:]
    assert len(calls) == 3
    # Later turns were partly served from the prompt cache: cached pricing is exercised.
    assert any(c.usage["cached"] for c in calls)

    session_id = namespace["session"].session_id
    live.wait_for_session(session_id, turns=3)
    listed = _get_json(
        live,
        "/v1/analytics/sessions",
        entity_type="customer",
        entity_id="acme-corp",
        tag="feature:chatbot",
    )["data"]
    assert [s["session_id"] for s in listed] == [session_id]  # one session per conversation
    session = listed[0]
    assert (session["entity_type"], session["entity_id"]) == ("customer", "acme-corp")
    assert_session_matches(session, calls, feature="chatbot")
    detail = _get_json(live, f"/v1/analytics/sessions/{session_id}")["data"]
    assert [c["input_tokens"] for c in detail["calls"]] == [c.usage["input"] for c in calls]
    assert [c["cached_input_tokens"] for c in detail["calls"]] == [c.usage["cached"] for c in calls]
    assert {c["provider"] for c in detail["calls"]} == {"openai"}
    assert {c["cost_source"] for c in detail["calls"]} != {"client"}


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def test_agent_example_runs_verbatim(guide_env: LiveServer, fake_openai: FakeOpenAI) -> None:
    live = guide_env
    from infraprism import InfraPrismOpenAI

    executed: list[str] = []

    def execute_tool(tool_call: Any) -> str:  # the application's own tool
        executed.append(tool_call.function.name)
        return json.dumps({"city": "Paris", "forecast": "sunny"})

    client = InfraPrismOpenAI()
    namespace: dict[str, Any] = {
        "__name__": "guide_agent",
        "uuid": uuid,
        "client": client,
        "tools": TOOLS,
        "execute_tool": execute_tool,
    }
    exec((EXAMPLES / "agent.txt").read_text(), namespace)
    customer = f"agent-customer-{uuid.uuid4().hex[:8]}"
    before = len(fake_openai.calls)
    answers = [
        namespace["run_agent"]("What's the weather in Paris?", customer),
        namespace["run_agent"]("And should I take an umbrella?", customer),
    ]
    try:
        assert client.flush(timeout=30)
    finally:
        client.close()
    assert all(a.startswith("Answer to turn") for a in answers)
    assert executed == ["get_weather", "get_weather"]
    calls = fake_openai.calls[before:]
    assert len(calls) == 4  # each run: a tool call, then the answer

    def both_rolled_up() -> list[dict[str, Any]] | None:
        data: list[dict[str, Any]] = _get_json(
            live,
            "/v1/analytics/sessions",
            entity_type="customer",
            entity_id=customer,
            tag="feature:agent",
            order_by="first_seen",
        )["data"]
        return data if len(data) == 2 and all(s["turn_count"] == 2 for s in data) else None

    sessions = wait_until(both_rolled_up, timeout=60, what="the agent's two sessions")
    assert_session_matches(sessions[0], calls[:2], feature="agent")
    assert_session_matches(sessions[1], calls[2:], feature="agent")
