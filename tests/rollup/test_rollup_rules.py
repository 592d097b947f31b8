"""The rules of a session aggregate (SPEC.md section 5), event by event, through the HTTP API.

Every test also checks the stored aggregates against `recompute`, a plain-Python recomputation
from the stored events, besides the hand-computed values.
"""

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from infraprism.models import Organization
from ingestion.models import Event
from sessions.models import PendingRollup, Session
from sessions.services import session_rollup_drain
from tests.conftest import KeyClient
from tests.factories import event
from tests.rollup.helpers import at, ingest_http, pending, requeue_in_order
from tests.rollup.recompute import recompute, recompute_daily, snapshot, snapshot_daily

pytestmark = pytest.mark.django_db


def drain(org: Organization, limit: int | None = None) -> None:
    session_rollup_drain(organization_id=org.pk, limit=limit)
    assert pending(org.pk) == 0


def aggregate(org: Organization, session_id: str = "s") -> dict[str, Any]:
    """The stored aggregate, after checking the whole organization against a recomputation."""
    stored = snapshot(org.pk)
    assert stored == recompute(org.pk)
    assert snapshot_daily(org.pk) == recompute_daily(org.pk)
    return stored[session_id]


def iso(value: datetime) -> str:
    return value.isoformat()


def test_late_earlier_event_moves_first_seen_entity_and_tags(client: KeyClient) -> None:
    org = client.organization
    ingest_http(
        client,
        [
            event(
                "e10",
                session_id="s",
                timestamp=at(10),
                entity_type="customer",
                entity_id="first-arrived",
                tags={"plan": "pro"},
            )
        ],
    )
    drain(org)
    row = aggregate(org)
    assert (row["entity_id"], row["tags"]) == ("first-arrived", {"plan": "pro"})

    # Arrives later, happened earlier: it becomes the session's start.
    ingest_http(
        client,
        [
            event(
                "e5",
                session_id="s",
                timestamp=at(5),
                entity_type="customer",
                entity_id="truly-first",
                tags={"plan": "free", "region": "eu"},
            )
        ],
    )
    drain(org)
    row = aggregate(org)
    assert iso(row["first_seen"]) == at(5)
    assert iso(row["last_seen"]) == at(10)
    assert (row["entity_type"], row["entity_id"]) == ("customer", "truly-first")
    assert row["tags"] == {"plan": "free", "region": "eu"}

    # Happened later: extends last_seen and adds new keys only.
    ingest_http(
        client,
        [
            event(
                "e20",
                session_id="s",
                timestamp=at(20),
                entity_type="customer",
                entity_id="later",
                tags={"plan": "enterprise", "region": "us", "team": "search"},
            )
        ],
    )
    drain(org)
    row = aggregate(org)
    assert (iso(row["first_seen"]), iso(row["last_seen"])) == (at(5), at(20))
    assert row["entity_id"] == "truly-first"
    assert row["tags"] == {"plan": "free", "region": "eu", "team": "search"}
    assert row["turn_count"] == 3


def test_entity_comes_from_the_earliest_event_that_has_one(client: KeyClient) -> None:
    org = client.organization
    ingest_http(
        client,
        [
            event("no-entity", session_id="s", timestamp=at(0)),
            event("u2", session_id="s", timestamp=at(3), entity_type="user", entity_id="u2"),
            event("u1", session_id="s", timestamp=at(1), entity_type="user", entity_id="u1"),
        ],
    )
    drain(org)
    row = aggregate(org)
    assert (row["entity_type"], row["entity_id"]) == ("user", "u1")
    assert iso(row["first_seen"]) == at(0)

    # An even earlier event without an entity moves first_seen but keeps the entity.
    ingest_http(client, [event("earliest", session_id="s", timestamp=at(-5))])
    drain(org)
    row = aggregate(org)
    assert (row["entity_type"], row["entity_id"]) == ("user", "u1")
    assert iso(row["first_seen"]) == at(-5)


def test_a_session_with_no_entity_anywhere_has_none(client: KeyClient) -> None:
    ingest_http(client, [event("a", session_id="s"), event("b", session_id="s")])
    drain(client.organization)
    row = aggregate(client.organization)
    assert (row["entity_type"], row["entity_id"]) == (None, None)


def test_same_timestamp_the_first_stored_event_wins_whatever_the_fold_order(
    client: KeyClient,
) -> None:
    org = client.organization
    tied = at(0, micros=123456)
    ingest_http(
        client,
        [
            event("stored-1st", session_id="s", timestamp=tied, entity_type="t", entity_id="a"),
            event("stored-2nd", session_id="s", timestamp=tied, entity_type="t", entity_id="b"),
        ],
    )
    ingest_http(
        client,
        [event("stored-3rd", session_id="s", timestamp=tied, tags={"k": "3rd"})],
    )
    ingest_http(
        client,
        [
            event(
                "stored-4th",
                session_id="s",
                timestamp=tied,
                entity_type="t",
                entity_id="d",
                tags={"k": "4th", "j": "4th"},
            )
        ],
    )
    # Fold them newest first, one per chunk: each later chunk brings an earlier-ranked event.
    requeue_in_order(org.pk, ["stored-4th", "stored-3rd", "stored-2nd", "stored-1st"])
    drain(org, limit=1)
    row = aggregate(org)
    assert row["entity_id"] == "a"
    assert row["tags"] == {"k": "3rd", "j": "4th"}
    assert iso(row["first_seen"]) == iso(row["last_seen"]) == tied


def test_tags_first_value_wins_by_timestamp_not_by_arrival(client: KeyClient) -> None:
    org = client.organization
    # One batch, listed newest first.
    ingest_http(
        client,
        [
            event("late", session_id="s", timestamp=at(30), tags={"env": "late", "a": "1"}),
            event("mid", session_id="s", timestamp=at(20), tags={"env": "mid", "b": "2"}),
        ],
    )
    drain(org)
    assert aggregate(org)["tags"] == {"env": "mid", "a": "1", "b": "2"}
    # A separate, later request with the earliest event of all.
    ingest_http(
        client,
        [event("early", session_id="s", timestamp=at(10), tags={"env": "early", "a": "0"})],
    )
    drain(org)
    assert aggregate(org)["tags"] == {"env": "early", "a": "0", "b": "2"}
    # An empty-string value is a value: it wins when it is first.
    ingest_http(
        client, [event("earliest", session_id="s", timestamp=at(0), tags={"b": "", "c": "x"})]
    )
    drain(org)
    assert aggregate(org)["tags"] == {"env": "early", "a": "0", "b": "", "c": "x"}


def test_models_are_distinct_and_sorted(client: KeyClient) -> None:
    org = client.organization
    ingest_http(
        client,
        [
            event("1", session_id="s", model="gpt-4o"),
            event("2", session_id="s", model="claude-3-5-sonnet"),
            event("3", session_id="s", model="gpt-4o"),
            event("4", session_id="s", model="gpt-4o-mini"),
        ],
    )
    drain(org)
    assert aggregate(org)["models"] == ["claude-3-5-sonnet", "gpt-4o", "gpt-4o-mini"]
    # Merged with a later chunk: still a sorted set, in code point order.
    ingest_http(
        client,
        [
            event("5", session_id="s", model="Gemini-1.5-pro"),
            event("6", session_id="s", model="claude-3-5-sonnet"),
            event("7", session_id="s", model="a-model"),
        ],
    )
    drain(org)
    assert aggregate(org)["models"] == [
        "Gemini-1.5-pro",
        "a-model",
        "claude-3-5-sonnet",
        "gpt-4o",
        "gpt-4o-mini",
    ]


def test_error_count_and_token_sums(client: KeyClient) -> None:
    org = client.organization
    ingest_http(
        client,
        [
            event("1", session_id="s", status="error", input_tokens=10, output_tokens=1),
            event("2", session_id="s", status="success", input_tokens=20, cached_input_tokens=5),
            event("3", session_id="s", input_tokens=30, output_tokens=3, cached_input_tokens=7),
        ],
    )
    drain(org)
    ingest_http(client, [event("4", session_id="s", status="error", output_tokens=100)])
    drain(org)
    row = aggregate(org)
    assert row["error_count"] == 2
    assert row["turn_count"] == 4
    assert (row["input_tokens"], row["output_tokens"], row["cached_input_tokens"]) == (
        60,
        104,
        12,
    )


def test_resent_event_ids_count_once(client: KeyClient) -> None:
    org = client.organization
    batch = [
        event("a", session_id="s", cost=0.25, input_tokens=100, tags={"k": "a"}),
        event("b", session_id="s", cost=0.5, status="error", timestamp=at(1)),
    ]
    assert ingest_http(client, batch)["duplicates"] == 0
    drain(org)
    # The same batch again, before and after a rollup, and one id re-sent with other content.
    assert ingest_http(client, batch)["duplicates"] == 2
    altered = event("a", session_id="s", cost=9, timestamp=at(-60), tags={"k": "altered"})
    assert ingest_http(client, [altered])["duplicates"] == 1
    drain(org)
    assert ingest_http(client, [*batch, altered])["duplicates"] == 3
    drain(org)
    row = aggregate(org)
    assert row["turn_count"] == 2
    assert row["total_cost_nanos"] == 750_000_000
    assert row["error_count"] == 1
    assert row["input_tokens"] == 100
    assert row["tags"] == {"k": "a"}
    assert Event.objects.filter(organization=org).count() == 2


def test_duplicate_ids_within_one_batch_count_once(client: KeyClient) -> None:
    org = client.organization
    body = ingest_http(
        client,
        [
            event("x", session_id="s", cost=1),
            event("x", session_id="s", cost=1),
            event("y", session_id="s", cost=2),
        ],
    )
    assert (body["accepted"], body["duplicates"]) == (3, 1)
    drain(org)
    row = aggregate(org)
    assert (row["turn_count"], row["total_cost_nanos"]) == (2, 3_000_000_000)


def test_events_without_session_id_never_create_sessions(client: KeyClient) -> None:
    org = client.organization
    ingest_http(
        client,
        [
            event("free-1", cost=1, entity_type="customer", entity_id="c"),
            event("free-2", cost=2, tags={"k": "v"}),
        ],
    )
    assert pending(org.pk) == 2  # queued for the daily cost table only
    drain(org)
    assert pending(org.pk) == 0
    assert not Session.objects.filter(organization=org).exists()
    ingest_http(client, [event("in-session", session_id="s", cost=4), event("free-3", cost=8)])
    drain(org)
    assert set(snapshot(org.pk)) == {"s"}
    assert snapshot_daily(org.pk) == recompute_daily(org.pk)
    assert sum(row["call_count"] for row in snapshot_daily(org.pk).values()) == 4
    assert aggregate(org)["total_cost_nanos"] == 4_000_000_000


def test_sessions_are_isolated_per_organization(client: KeyClient, other_client: KeyClient) -> None:
    ingest_http(
        client,
        [
            event("e1", session_id="shared", cost=1, entity_type="c", entity_id="acme"),
            event("e2", session_id="shared", cost=1, model="m-acme", tags={"owner": "acme"}),
        ],
    )
    # Same session id and even the same event id in the other organization.
    ingest_http(
        other_client,
        [
            event(
                "e1",
                session_id="shared",
                cost=5,
                timestamp=at(-10),
                entity_type="c",
                entity_id="globex",
                tags={"owner": "globex"},
            )
        ],
    )
    session_rollup_drain()  # the global drain: one organization after the other
    acme = aggregate(client.organization, "shared")
    globex = aggregate(other_client.organization, "shared")
    assert (acme["turn_count"], acme["total_cost_nanos"], acme["entity_id"]) == (
        2,
        2_000_000_000,
        "acme",
    )
    assert acme["tags"] == {"owner": "acme"}
    assert acme["models"] == ["gpt-4o", "m-acme"]
    assert (globex["turn_count"], globex["total_cost_nanos"], globex["entity_id"]) == (
        1,
        5_000_000_000,
        "globex",
    )
    assert globex["tags"] == {"owner": "globex"}
    assert iso(globex["first_seen"]) == at(-10)


def _mixed_events(n: int) -> list[dict[str, Any]]:
    """Out-of-order events over a few sessions, entities, tags, models and statuses."""
    events = []
    for i in range(n):
        fields: dict[str, Any] = {
            "session_id": f"s{i % 4}",
            "timestamp": at((i * 37) % 23, micros=i),
            "cost": round(0.000001 * (i + 1) ** 2, 9),
            "input_tokens": i,
            "output_tokens": 2 * i,
            "cached_input_tokens": i % 3,
            "model": ["gpt-4o", "claude-3-5-sonnet", "gemini-1.5-pro"][i % 3],
            "status": "error" if i % 5 == 0 else "success",
            "tags": {f"k{i % 3}": f"v{i}", "batch": str(i // 10)},
        }
        if i % 3 == 1:
            fields.update(entity_type="customer", entity_id=f"c{i % 7}")
        events.append(event(f"ev-{i}", **fields))
    return events


@pytest.mark.parametrize("limit", [1, 7])
def test_chunk_size_does_not_change_the_result(
    limit: int,
    make_org: Callable[..., Organization],
    client_for: Callable[..., KeyClient],
) -> None:
    events = _mixed_events(60)
    small, big = make_org(), make_org()
    for org in (small, big):
        client = client_for(org)
        for start in range(0, len(events), 25):
            ingest_http(client, events[start : start + 25])
    drain(small, limit=limit)
    drain(big)  # one chunk of everything
    assert snapshot(small.pk) == snapshot(big.pk) == recompute(big.pk)
    assert snapshot(small.pk) == recompute(small.pk)
    assert sum(row["turn_count"] for row in snapshot(small.pk).values()) == 60


def test_manage_py_rollup_drains_everything(
    client: KeyClient, other_client: KeyClient, settings: Any
) -> None:
    settings.ROLLUP_CHUNK_SIZE = 9
    events = _mixed_events(40)
    ingest_http(client, events)
    ingest_http(other_client, events[:25])
    out = StringIO()
    call_command("rollup", stdout=out)
    assert "rolled up 65 events" in out.getvalue()
    assert not PendingRollup.objects.exists()
    for org in (client.organization, other_client.organization):
        assert snapshot(org.pk) == recompute(org.pk)
        assert len(snapshot(org.pk)) == 4
    # Nothing left: a second run does nothing.
    out = StringIO()
    call_command("rollup", stdout=out)
    assert "rolled up 0 events" in out.getvalue()


def test_ten_thousand_tiny_costs_sum_exactly(client: KeyClient) -> None:
    org = client.organization
    for start in range(0, 10_000, 1000):
        body = ingest_http(
            client,
            [
                event(f"tiny-{i}", session_id="s", cost=0.0000015)
                for i in range(start, start + 1000)
            ],
        )
        assert body["accepted"] == 1000
    assert pending(org.pk) == 10_000
    # Several chunks, so the exact sum also survives the merge.
    drain(org, limit=3_333)
    row = aggregate(org)
    assert row["turn_count"] == 10_000
    assert row["total_cost_nanos"] == 15_000_000
    assert Session.objects.get(organization=org).total_cost == Decimal("0.015")


def test_a_thousand_costs_of_fifteen_hundredths_of_a_cent_make_one_and_a_half_usd(
    client: KeyClient,
) -> None:
    org = client.organization
    ingest_http(client, [event(f"c-{i}", session_id="s", cost=0.0015) for i in range(1000)])
    drain(org, limit=128)
    row = aggregate(org)
    assert (row["turn_count"], row["total_cost_nanos"]) == (1000, 1_500_000_000)
    assert Session.objects.get(organization=org).total_cost == Decimal("1.5")
