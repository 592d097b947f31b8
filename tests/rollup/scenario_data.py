"""A fixed rollup scenario: three batches of out-of-order, duplicated, tagged events, and the
aggregates they must produce, worked out by hand. Plain data: no Django imports.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.factories import event

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def ev(event_id: str, minutes: float, **fields: Any) -> dict[str, Any]:
    return event(event_id, timestamp=at(minutes), **fields)


BATCH_1 = [
    ev(
        "e1",
        10,
        session_id="s1",
        entity_type="customer",
        entity_id="late-entity",
        tags={"plan": "pro"},
        cost=Decimal("0.0000015"),
        input_tokens=100,
        output_tokens=10,
    ),
    ev(
        "e2",
        20,
        session_id="s1",
        model="claude-3-5-sonnet",
        status="error",
        tags={"plan": "enterprise", "team": "a"},
        cost=Decimal("0.25"),
        input_tokens=50,
        output_tokens=5,
        cached_input_tokens=20,
    ),
    ev("e3", 0, cost=Decimal(1), entity_type="customer", entity_id="no-session"),
]
BATCH_2 = [
    ev(
        "e0",
        5,
        session_id="s1",
        entity_type="customer",
        entity_id="first-entity",
        tags={"region": "eu"},
        cost=Decimal("0.0015"),
        input_tokens=1,
        output_tokens=1,
    ),
    # A re-sent id with other content: a duplicate, ignored.
    ev("e1", -100, session_id="s1", cost=Decimal(9), tags={"plan": "duplicate"}),
    ev("f1", 0, session_id="s2", model="Gemini-1.5-pro", cost=Decimal(0)),
    ev(
        "f2",
        0,
        session_id="s2",
        entity_type="user",
        entity_id="u1",
        tags={"k": "first"},
        cost=Decimal("0.1"),
    ),
]
BATCH_3 = [
    ev("e-1", 1, session_id="s1", model="gpt-4o-mini", tags={"plan": "free"}, cost=Decimal("1e-9")),
    ev(
        "f3",
        0,
        session_id="s2",
        model="claude-3-5-sonnet",
        entity_type="user",
        entity_id="u2",
        status="error",
        tags={"k": "second", "j": "x"},
        cost=Decimal("0.2"),
        input_tokens=7,
    ),
    *BATCH_1,  # replayed
]


# Worked out by hand from the batches above.
EXPECTED = {
    "s1": {
        # e-1 (+1 min) is the earliest; e0 (+5) the earliest with an entity.
        "entity_type": "customer",
        "entity_id": "first-entity",
        "turn_count": 4,
        # e1 0.0000015 + e2 0.25 + e0 0.0015 + e-1 0.000000001 USD
        "total_cost_nanos": 1_500 + 250_000_000 + 1_500_000 + 1,
        "input_tokens": 151,
        "output_tokens": 16,
        "cached_input_tokens": 20,
        "first_seen": at(1),
        "last_seen": at(20),
        "error_count": 1,
        "models": ["claude-3-5-sonnet", "gpt-4o", "gpt-4o-mini"],
        # plan: e-1 (+1) beats e1 (+10) and e2 (+20), though it arrived last.
        "tags": {"plan": "free", "region": "eu", "team": "a"},
    },
    "s2": {
        # Three events at the same instant: storage order breaks the tie.
        "entity_type": "user",
        "entity_id": "u1",
        "turn_count": 3,
        "total_cost_nanos": 300_000_000,
        "input_tokens": 7,
        "output_tokens": 0,
        "cached_input_tokens": 0,
        "first_seen": at(0),
        "last_seen": at(0),
        "error_count": 1,
        # Code point order, whatever the database's collation ("G" < "c").
        "models": ["Gemini-1.5-pro", "claude-3-5-sonnet", "gpt-4o"],
        "tags": {"k": "first", "j": "x"},
    },
}
