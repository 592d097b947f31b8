"""The drain's claim cursor (sessions/rollup/cursor.py): each chunk's claim resumes at the last
session the previous chunk claimed, then at the sessionless rows, and a drain that follows it
still folds every pending row exactly once."""

from decimal import Decimal

import pytest
from django.db import connection

from infraprism.models import Organization
from sessions.models import PendingRollup
from sessions.rollup.cursor import START, ClaimCursor
from sessions.services import pending_high_water_mark, session_rollup_chunk, session_rollup_drain
from tests.factories import event
from tests.rollup.helpers import at, ingest, pending
from tests.rollup.recompute import recompute, recompute_daily, snapshot, snapshot_daily

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite claims from the queue's start"
)


def three_sessions_and_two_sessionless(org: Organization) -> None:
    """Sessions a, b and c with three calls each, interleaved in time, and two calls without a
    session, ingested in arrival order (so a session's rows are not contiguous in the queue)."""
    calls = []
    for turn in range(3):
        for session in ("c", "a", "b"):
            calls.append(
                event(
                    f"{session}-{turn}",
                    session_id=session,
                    timestamp=at(turn),
                    cost=Decimal("0.000000007"),
                    tags={"turn": str(turn)},
                )
            )
        if turn < 2:
            calls.append(event(f"none-{turn}", timestamp=at(turn), cost=Decimal("0.000000011")))
    assert ingest(org.pk, calls) == 11


def pending_event_ids(org: Organization) -> list[str]:
    return list(
        PendingRollup.objects.filter(organization_id=org.pk).values_list("event_id", flat=True)
    )


@postgres_only
def test_the_cursor_follows_each_claim_to_the_sessionless_rows(org: Organization) -> None:
    three_sessions_and_two_sessionless(org)
    up_to = pending_high_water_mark(org.pk)
    steps = []
    cursor = START
    while True:
        before = set(pending_event_ids(org))
        result = session_rollup_chunk(organization_id=org.pk, limit=4, up_to=up_to, cursor=cursor)
        folded = sorted(before - set(pending_event_ids(org)))
        steps.append((folded, result.claimed, result.cursor))
        if not result.claimed:
            break
        cursor = result.cursor
    assert steps == [
        (["a-0", "a-1", "a-2", "b-0"], 4, ClaimCursor("b", False)),
        (["b-1", "b-2", "c-0", "c-1"], 4, ClaimCursor("c", False)),
        (["c-2", "none-0", "none-1"], 3, ClaimCursor("c", True)),
        ([], 0, ClaimCursor("c", True)),
    ]
    assert snapshot(org.pk) == recompute(org.pk)
    assert snapshot_daily(org.pk) == recompute_daily(org.pk)


@postgres_only
def test_a_claim_leaves_the_sessions_before_its_cursor_pending(org: Organization) -> None:
    three_sessions_and_two_sessionless(org)
    up_to = pending_high_water_mark(org.pk)
    result = session_rollup_chunk(
        organization_id=org.pk, limit=100, up_to=up_to, cursor=ClaimCursor("b")
    )
    assert result.claimed == 8  # b and c, then the sessionless rows
    assert sorted(pending_event_ids(org)) == ["a-0", "a-1", "a-2"]
    assert result.cursor == ClaimCursor("c", True)


@postgres_only
def test_a_cursor_past_the_sessions_claims_only_sessionless_rows(org: Organization) -> None:
    three_sessions_and_two_sessionless(org)
    up_to = pending_high_water_mark(org.pk)
    result = session_rollup_chunk(
        organization_id=org.pk,
        limit=100,
        up_to=up_to,
        cursor=ClaimCursor(after_session=None, sessions_done=True),
    )
    assert result.claimed == 2
    assert len(pending_event_ids(org)) == 9
    assert result.cursor == ClaimCursor(None, True)


@pytest.mark.parametrize("limit", [1, 2, 4, 5])
def test_a_drain_in_small_chunks_folds_every_row_once(org: Organization, limit: int) -> None:
    """Sessions straddle chunks at every chunk size: the claim resumes at the last session
    claimed, not after it."""
    three_sessions_and_two_sessionless(org)
    stats = session_rollup_drain(organization_id=org.pk, limit=limit)
    assert stats.events == 11
    assert pending(org.pk) == 0
    stored = snapshot(org.pk)
    assert stored == recompute(org.pk)
    assert snapshot_daily(org.pk) == recompute_daily(org.pk)
    assert {session: stored[session]["turn_count"] for session in stored} == {
        "a": 3,
        "b": 3,
        "c": 3,
    }
    assert sum(row["total_cost_nanos"] for row in stored.values()) == 63
