"""Property: whatever the order of ingests, replays and rollups, aggregates equal a recomputation.

Hypothesis draws a small world (few sessions, entities, tag keys and values, timestamps that
often tie, repeated event ids with different content), splits it into batches and interleaves
ingesting them, replaying earlier ones, shuffling the pending queue (the order a slow or retried
worker folds events in) and partial rollups with random chunk limits.
"""

import random
from datetime import timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infraprism.models import Organization
from ingestion.models import Event
from sessions.models import DailyCost, DailyTagCost, PendingRollup, Session
from sessions.services import session_rollup_drain
from tests.factories import event
from tests.rollup.helpers import T0, ingest, pending, requeue_in_order
from tests.rollup.recompute import (
    recompute,
    recompute_daily,
    recompute_daily_tags,
    snapshot,
    snapshot_daily,
    snapshot_daily_tags,
)

DAY_MICROS = 24 * 3600 * 1_000_000

timestamps = st.one_of(
    # A handful of shared instants, so ties (broken by storage order) are common.
    st.sampled_from([0, 1, 1_000_000, DAY_MICROS // 2]),
    st.integers(min_value=0, max_value=DAY_MICROS - 1),
).map(lambda micros: (T0 + timedelta(microseconds=micros)).isoformat())

entities = st.one_of(
    st.none(), st.tuples(st.sampled_from(["customer", "user"]), st.sampled_from(["a", "b", "c"]))
)

costs = st.one_of(
    st.none(),  # priced from the table (or unpriced)
    st.decimals(
        min_value=0,
        max_value=Decimal("1000"),
        places=9,
        allow_nan=False,
        allow_infinity=False,
    ),
)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    # Keyword arguments are evaluated in order: the draws keep theirs.
    item = event(
        # A small id space: the same id is often drawn again, usually with other content.
        f"e{draw(st.integers(min_value=0, max_value=30))}",
        timestamp=draw(timestamps),
        model=draw(st.sampled_from(["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "x-1"])),
        input_tokens=draw(st.integers(min_value=0, max_value=10**6)),
        output_tokens=draw(st.integers(min_value=0, max_value=10**5)),
        cached_input_tokens=draw(st.integers(min_value=0, max_value=10**4)),
        status=draw(st.sampled_from(["success", "success", "error"])),
        tags=draw(
            st.dictionaries(
                st.sampled_from(["env", "team", "feature"]),
                st.sampled_from(["prod", "dev", ""]),
                max_size=3,
            )
        ),
    )
    session_id = draw(st.sampled_from(["s1", "s2", "s3", None]))
    if session_id is not None:
        item["session_id"] = session_id
    entity = draw(entities)
    if entity is not None:
        item["entity_type"], item["entity_id"] = entity
    cost = draw(costs)
    if cost is not None:
        item["cost"] = cost
    return item


def _batches(data: st.DataObject) -> list[list[dict[str, Any]]]:
    items = data.draw(st.lists(events(), min_size=1, max_size=60), label="events")
    cuts = data.draw(
        st.lists(st.integers(min_value=0, max_value=len(items)), max_size=6), label="cuts"
    )
    bounds = [0, *sorted(set(cuts)), len(items)]
    return [items[a:b] for a, b in pairwise(bounds) if b > a]


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_any_interleaving_of_ingests_replays_and_rollups_equals_a_recomputation(
    org: Organization, data: st.DataObject
) -> None:
    # One database transaction for all examples: start each from an empty organization.
    Session.objects.filter(organization=org).delete()
    PendingRollup.objects.filter(organization_id=org.pk).delete()
    Event.objects.filter(organization=org).delete()
    DailyCost.objects.filter(organization_id=org.pk).delete()
    DailyTagCost.objects.filter(organization_id=org.pk).delete()

    batches = _batches(data)
    order = data.draw(st.permutations(range(len(batches))), label="ingest order")
    ingested: list[int] = []
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1), label="seed"))

    def step(operation: str) -> None:
        if operation == "replay" and ingested:
            ingest(org.pk, batches[data.draw(st.sampled_from(ingested), label="replay")])
        elif operation == "rollup":
            limit = data.draw(st.integers(min_value=1, max_value=12), label="limit")
            chunks = data.draw(st.integers(min_value=1, max_value=4), label="chunks")
            session_rollup_drain(organization_id=org.pk, limit=limit, max_chunks=chunks)
        elif operation == "shuffle":
            queued = list(
                Event.objects.filter(
                    organization=org,
                    pk__in=PendingRollup.objects.filter(organization_id=org.pk).values("event_pk"),
                ).values_list("event_id", flat=True)
            )
            rng.shuffle(queued)
            requeue_in_order(org.pk, queued)
        elif operation == "drain":
            session_rollup_drain(organization_id=org.pk)
            assert pending(org.pk) == 0
            assert snapshot(org.pk) == recompute(org.pk)
            assert snapshot_daily(org.pk) == recompute_daily(org.pk)
            assert snapshot_daily_tags(org.pk) == recompute_daily_tags(org.pk)

    operations = st.lists(st.sampled_from(["replay", "rollup", "shuffle", "drain"]), max_size=3)
    for index in order:
        for operation in data.draw(operations, label="between ingests"):
            step(operation)
        ingest(org.pk, batches[index])
        ingested.append(index)
    for operation in data.draw(operations, label="after the last ingest"):
        step(operation)

    session_rollup_drain(organization_id=org.pk)
    assert pending(org.pk) == 0
    expected = recompute(org.pk)
    assert snapshot(org.pk) == expected
    assert snapshot_daily(org.pk) == recompute_daily(org.pk)
    assert snapshot_daily_tags(org.pk) == recompute_daily_tags(org.pk)
    assert set(expected) == set(
        Event.objects.filter(organization=org, session_id__isnull=False).values_list(
            "session_id", flat=True
        )
    )
