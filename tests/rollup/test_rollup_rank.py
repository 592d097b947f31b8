"""The PostgreSQL chunk's per-group ranks and bigint saturation (sessions/rollup/postgres.py).

A chunk finds each group's earliest event by comparing bytes, then writes the rank string once
per group. These tests fold several candidates in one chunk and check the winner, and that the
stored ranks are exactly the per-event rank strings (so they still merge with ranks stored
earlier, or by a chunk that folded one event). They also check the bigint saturation of the
token sums in both upserts.
"""

from typing import Any

import pytest
from django.db import connection

from infraprism.models import Organization
from ingestion.models import Event
from sessions.models import DailyCost, PendingRollup, Session
from sessions.rollup.postgres import RANK
from sessions.services import session_rollup_drain
from tests.conftest import KeyClient
from tests.factories import event
from tests.rollup.helpers import at, ingest_http, pending
from tests.rollup.recompute import recompute, recompute_daily, snapshot, snapshot_daily

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL rollup's SQL"),
]

BIGINT_MAX = 2**63 - 1


def _drain(org: Organization) -> None:
    session_rollup_drain(organization_id=org.pk)  # one chunk: the default limit is 20,000
    assert pending(org.pk) == 0


def _event_rank(org: Organization, event_id: str) -> str:
    """The rank string of one stored event, by the per-event formula."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {RANK} FROM {Event._meta.db_table} "
            "WHERE organization_id = %s AND event_id = %s",
            [org.pk, event_id],
        )
        row = cursor.fetchone()
    assert row is not None
    rank: str = row[0]
    return rank


def _stored(org: Organization, session_id: str = "s") -> Session:
    assert snapshot(org.pk) == recompute(org.pk)
    assert snapshot_daily(org.pk) == recompute_daily(org.pk)
    return Session.objects.get(organization_id=org.pk, session_id=session_id)


def test_one_chunk_picks_the_earliest_by_timestamp_then_id_bytes(client: KeyClient) -> None:
    org = client.organization
    tied = at(0, micros=250)
    # Same timestamp: code point order of the ids decides; "a" is a prefix of the others.
    ingest_http(
        client,
        [
            event("aé", session_id="s", timestamp=tied, entity_type="t", entity_id="e-acute"),
            event("ab", session_id="s", timestamp=tied, entity_type="t", entity_id="b"),
            event("a-b", session_id="s", timestamp=tied, tags={"k": "dash", "j": "dash"}),
            event("a", session_id="s", timestamp=tied, entity_type="t", entity_id="a"),
            # Later events with the entity of "a" (same group) and the tags of "a-b" (another
            # group, by model): the ranks stay those of "a" and "a-b".
            event("ax", session_id="s", timestamp=tied, entity_type="t", entity_id="a"),
            event("zz", session_id="s", timestamp=tied, model="m", tags={"k": "dash", "j": "dash"}),
            event("b", session_id="s", timestamp=at(-1), tags={"j": "earlier"}),
            event("c", session_id="s", timestamp=at(1), entity_type="t", entity_id="later"),
        ],
    )
    _drain(org)
    row = _stored(org)
    assert (row.entity_type, row.entity_id) == ("t", "a")
    assert row.tags == {"k": "dash", "j": "earlier"}
    assert row.entity_rank == _event_rank(org, "a")
    assert row.tag_ranks == {"k": _event_rank(org, "a-b"), "j": _event_rank(org, "b")}


def test_groups_of_one_session_over_days_and_models_merge_by_rank(client: KeyClient) -> None:
    org = client.organization
    # Several groups (day, model, entity, tags) of one session, and a sessionless call.
    ingest_http(
        client,
        [
            event("x1", session_id="s", timestamp=at(60 * 24), model="m2", tags={"k": "day2"}),
            event(
                "x2",
                session_id="s",
                timestamp=at(5),
                model="m1",
                entity_type="t",
                entity_id="first",
                tags={"k": "day1", "only": "x2"},
            ),
            event(
                "x3",
                session_id="s",
                timestamp=at(6),
                model="m2",
                entity_type="t",
                entity_id="second",
            ),
            event("x4", session_id="s", timestamp=at(4), model="m3"),
            event("x5", timestamp=at(1), model="m1", entity_type="t", entity_id="first"),
        ],
    )
    _drain(org)
    row = _stored(org)
    assert (row.entity_type, row.entity_id) == ("t", "first")
    assert row.entity_rank == _event_rank(org, "x2")
    assert row.tags == {"k": "day1", "only": "x2"}
    assert row.tag_ranks == {"k": _event_rank(org, "x2"), "only": _event_rank(org, "x2")}
    assert row.models == ["m1", "m2", "m3"]
    assert row.turn_count == 4


def test_timestamps_before_2000_rank_first(client: KeyClient) -> None:
    """Ingestion refuses them, but the ranks must still order them (the bytes compared are
    microseconds since 2000-01-01, negative here): the queue rows are moved back in time
    here, past ingestion's check."""
    org = client.organization
    ingest_http(
        client,
        [
            event("a-late", session_id="s", timestamp=at(0), entity_type="t", entity_id="x"),
            event("b-early", session_id="s", timestamp=at(1), entity_type="t", entity_id="x"),
            event("c-2000", session_id="s", timestamp=at(2), entity_type="t", entity_id="y"),
        ],
    )
    queue = PendingRollup.objects.filter(organization_id=org.pk)
    queue.filter(event_id="a-late").update(timestamp="1999-12-31T23:59:59.999999Z")
    queue.filter(event_id="b-early").update(timestamp="1999-12-31T00:00:00.000001Z")
    queue.filter(event_id="c-2000").update(timestamp="2000-01-01T00:00:00.000001Z")
    _drain(org)
    row = Session.objects.get(organization_id=org.pk, session_id="s")
    assert (row.entity_type, row.entity_id) == ("t", "x")
    assert row.entity_rank == "19991231000000000001" + b"b-early".hex() + "."
    assert row.first_seen.isoformat() == "1999-12-31T00:00:00.000001+00:00"
    assert row.last_seen.isoformat() == "2000-01-01T00:00:00.000001+00:00"


def _one_call(event_id: str, tokens: int) -> dict[str, Any]:
    return event(
        event_id,
        session_id="s",
        timestamp=at(0),
        entity_type="t",
        entity_id="a",
        input_tokens=tokens,
        output_tokens=tokens,
        cached_input_tokens=0,
    )


def test_token_sums_saturate_at_the_bigint_maximum(client: KeyClient) -> None:
    org = client.organization
    ingest_http(client, [_one_call("one", 10)])
    _drain(org)
    # Stored sums just below the maximum: adding 10 passes it (input) or lands on it (output).
    Session.objects.filter(organization_id=org.pk).update(
        input_tokens=BIGINT_MAX - 3, output_tokens=BIGINT_MAX - 10
    )
    DailyCost.objects.filter(organization_id=org.pk).update(
        input_tokens=BIGINT_MAX - 3, output_tokens=BIGINT_MAX - 10
    )
    ingest_http(client, [_one_call("two", 10)])
    _drain(org)
    session = Session.objects.get(organization_id=org.pk, session_id="s")
    daily = DailyCost.objects.get(organization_id=org.pk)
    for row in (session, daily):
        assert (row.input_tokens, row.output_tokens, row.cached_input_tokens) == (
            BIGINT_MAX,
            BIGINT_MAX,
            0,
        )
    assert session.turn_count == daily.call_count == 2
