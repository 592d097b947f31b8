"""Guide-shaped traffic (seed/sessions-guide.txt): the chatbot example's three gpt-4o turns and
an agent run with tool calls, as the SDK would POST them. Used by the dashboard tests and the
guide's own test."""

from typing import Any

from tests.factories import event

CHATBOT_SESSION = "0d3c2a5e-6f1b-4c2a-9a59-3f1e2b7c9d01"
AGENT_SESSION = "acme-corp:agent-run-7"  # the guide's composite id style
# The guide's chatbot: the prompt grows with each turn.
CHAT_TURNS = [(800, 150), (960, 170), (1160, 180)]
# The agent: the model calls tools five times, then answers.
AGENT_STEPS = 6


def chatbot_calls(
    *, session_id: str = CHATBOT_SESSION, customer: str = "acme-corp", day: str = "2025-03-04"
) -> list[Any]:
    """What the guide's ChatSession sends for its three chat() calls (no client cost)."""
    return [
        event(
            timestamp=f"{day}T09:00:{10 * turn:02d}Z",
            model="gpt-4o",
            provider="openai",
            entity_type="customer",
            entity_id=customer,
            session_id=session_id,
            tags={"feature": "chatbot"},
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            latency_ms=900,
        )
        for turn, (input_tokens, output_tokens) in enumerate(CHAT_TURNS)
    ]


def agent_calls(*, session_id: str = AGENT_SESSION, customer: str = "acme-corp") -> list[Any]:
    calls = []
    for step in range(AGENT_STEPS):
        calls.append(
            event(
                timestamp=f"2025-03-05T14:{step * 2:02d}:{(step * 7) % 60:02d}Z",
                model="gpt-4o",
                provider="openai",
                entity_type="customer",
                entity_id=customer,
                session_id=session_id,
                tags={"feature": "agent"},
                input_tokens=1500 + 400 * step,
                output_tokens=60 if step < AGENT_STEPS - 1 else 420,
                cached_input_tokens=1024 * step,
                latency_ms=1200 + 100 * step,
                status="error" if step == 2 else "success",
            )
        )
    return calls
