"""Cost reports from the daily cost table equal the events-based answer, to the nano-dollar.

Hypothesis draws events over a few UTC days (times near midnight included), with and without
sessions, entities and providers, client costs up to MAX_COST_USD (so sums pass 2**63
nano-dollars) and priced ones; rolls up only part of them (the rest stays pending in the
queue), then asks every grouping the table answers, with and without filters, once from the
table (analytics/cost_reports.py) and once from the events (the same selector with the table
switched off), and compares them. Events carry none, some or all of a few tag keys, so the
tag groupings (the daily tag cost table, and the group of events without the key) are asked
too. Runs on whichever engine the suite uses: both in CI.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import cost_reports, selectors
from analytics.filters import ReadFilters
from infraprism.models import Organization
from ingestion.models import Event
from ingestion.validation import MAX_COST_USD
from sessions.models import DailyCost, DailyTagCost, PendingRollup, Session
from sessions.services import session_rollup_drain
from tests.factories import event
from tests.rollup.helpers import ingest

DAY0 = datetime(2024, 6, 1, tzinfo=UTC)
SECONDS = 3 * 24 * 3600

moments = st.one_of(
    st.sampled_from([0, 1, 24 * 3600 - 1, 24 * 3600, 2 * 24 * 3600 - 1]),  # midnights' edges
    st.integers(min_value=0, max_value=SECONDS - 1),
).map(lambda s: (DAY0 + timedelta(seconds=s)).isoformat())

costs = st.one_of(
    st.none(),  # priced from the table, or unpriced
    st.sampled_from([Decimal(0), MAX_COST_USD]),
    st.decimals(min_value=0, max_value=Decimal(1000), places=9, allow_nan=False),
)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    item = event(
        timestamp=draw(moments),
        model=draw(st.sampled_from(["gpt-4o", "gpt-4o-mini", "x-1"])),
        provider=draw(st.sampled_from([None, "openai", "other"])),
        input_tokens=draw(st.integers(min_value=0, max_value=10**6)),
        output_tokens=draw(st.integers(min_value=0, max_value=10**5)),
        status=draw(st.sampled_from(["success", "error"])),
    )
    if item["provider"] is None:
        del item["provider"]
    if (session := draw(st.sampled_from([None, "s1", "s2"]))) is not None:
        item["session_id"] = session
    entity = draw(st.sampled_from([None, ("customer", "a"), ("customer", "b"), ("team", "a")]))
    if entity is not None:
        item["entity_type"], item["entity_id"] = entity
    if (cost := draw(costs)) is not None:
        item["cost"] = cost
    tags = draw(
        st.dictionaries(
            st.sampled_from(["feature", "env", "team"]),
            st.sampled_from(["chat", "search", "", "prod", "Zürich", "Z"]),
            max_size=3,
        )
    )
    if tags:
        item["tags"] = tags
    return item


FILTERS: list[dict[str, Any]] = [
    {},
    {"start": DAY0 + timedelta(days=1)},
    {"start": DAY0, "end": DAY0 + timedelta(days=2)},
    {"entity_type": "customer"},
    {"entity_type": "customer", "entity_id": "a"},
    {"model": "gpt-4o"},
    {"provider": "openai"},
    {"provider": ""},
]
# A key most events carry, one some carry, and one none carries.
TAG_GROUPS = ("tag:feature", "tag:team", "tag:absent")
# Tag groupings come from the table only with no filter but UTC-midnight bounds.
TAG_FILTERS: list[dict[str, Any]] = [
    {},
    {"start": DAY0 + timedelta(days=1)},
    {"start": DAY0, "end": DAY0 + timedelta(days=2)},
    {"end": DAY0 + timedelta(days=1)},
]


def from_events(monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> Any:
    with monkeypatch.context() as patched:
        patched.setattr(cost_reports, "table_answers", lambda filters, group_by: False)
        return selectors.cost_breakdown(**kwargs)


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_table_answers_equal_events_answers(
    org: Organization, monkeypatch: pytest.MonkeyPatch, data: st.DataObject
) -> None:
    for model in (Session, Event, DailyCost, DailyTagCost, PendingRollup):
        model.objects.filter(organization_id=org.pk).delete()
    items = data.draw(st.lists(events(), min_size=1, max_size=40), label="events")
    ingest(org.pk, items)
    # Part rolled up, part still pending: reports must count both, each event once.
    limit = data.draw(st.integers(min_value=1, max_value=15), label="limit")
    chunks = data.draw(st.integers(min_value=0, max_value=3), label="chunks")
    if chunks:
        session_rollup_drain(organization_id=org.pk, limit=limit, max_chunks=chunks)
    asked = [(g, f) for g in cost_reports.TABLE_GROUPS for f in FILTERS]
    for group_by, fields in [*asked, *((g, f) for g in TAG_GROUPS for f in TAG_FILTERS)]:
        filters = ReadFilters(kind="events", **fields)
        assert cost_reports.table_answers(filters, group_by)
        ask: dict[str, Any] = {
            "organization": org,
            "filters": filters,
            "group_by": group_by,
            "limit": 1000,
        }
        table, _ = selectors.cost_breakdown(**ask)
        events_answer, _ = from_events(monkeypatch, **ask)
        assert table == events_answer, (group_by, fields)
        # Pages cut the same rows.
        assert selectors.cost_breakdown(**{**ask, "offset": 1, "limit": 2}) == from_events(
            monkeypatch, **{**ask, "offset": 1, "limit": 2}
        )
        streamed = list(selectors.cost_items(organization=org, filters=filters, group_by=group_by))
        assert streamed == table


def test_what_the_table_cannot_answer_goes_to_the_events() -> None:
    midnight = datetime(2024, 6, 1, tzinfo=UTC)
    answers = cost_reports.table_answers
    assert answers(ReadFilters(kind="events"), "day")
    assert answers(ReadFilters(kind="events", zone=ZoneInfo("Etc/UTC")), "day")
    assert not answers(ReadFilters(kind="events", zone=ZoneInfo("Europe/Paris")), "day")
    # Another zone's day bounds are not UTC midnights; other groupings still use the table.
    paris_midnight = datetime(2024, 6, 1, tzinfo=ZoneInfo("Europe/Paris"))
    assert not answers(ReadFilters(kind="events", start=paris_midnight), "model")
    assert answers(ReadFilters(kind="events", zone=ZoneInfo("Europe/Paris")), "model")
    assert answers(ReadFilters(kind="events", start=midnight, end=midnight), "entity")
    assert not answers(ReadFilters(kind="events", end=midnight + timedelta(hours=1)), "entity")
    assert not answers(ReadFilters(kind="events", tags=(("env", "prod"),)), "model")
    # Tag groupings: bounds on UTC midnights only, in any zone (they have no days).
    assert answers(ReadFilters(kind="events"), "tag:env")
    assert answers(ReadFilters(kind="events", start=midnight, end=midnight), "tag:env")
    assert answers(ReadFilters(kind="events", zone=ZoneInfo("Europe/Paris")), "tag:env")
    assert not answers(ReadFilters(kind="events", start=paris_midnight), "tag:env")
    assert not answers(ReadFilters(kind="events", tags=(("env", "prod"),)), "tag:env")
    for name in ("entity_type", "entity_id", "model", "provider", "session_id", "status"):
        one_filter: dict[str, Any] = {name: "x"}
        assert not answers(ReadFilters(kind="events", **one_filter), "tag:env"), name
    assert not answers(ReadFilters(kind="events"), "session")
    assert not answers(ReadFilters(kind="events", session_id="s"), "model")
    assert not answers(ReadFilters(kind="events", status="error"), "model")
    assert not answers(ReadFilters(kind="events", entity_type=""), "entity")


@pytest.mark.django_db
def test_report_counts_pending_and_folded_events_once(org: Organization) -> None:
    base = {"model": "x-1", "timestamp": DAY0.isoformat()}
    ingest(org.pk, [event(**base, cost=Decimal("0.000000001"), session_id="s")])
    session_rollup_drain(organization_id=org.pk)
    ingest(org.pk, [event(**base, cost=MAX_COST_USD), event(**base, cost=MAX_COST_USD)])
    assert PendingRollup.objects.filter(organization_id=org.pk).count() == 2
    filters = ReadFilters(kind="events")
    (row,), more = selectors.cost_breakdown(organization=org, filters=filters, group_by="day")
    assert not more
    total = 2 * MAX_COST_USD + Decimal("0.000000001")  # past 2**63 nano-dollars
    assert (row["key"], row["call_count"], row["total_cost"]) == ("2024-06-01", 3, total)
    assert DailyCost.objects.filter(organization_id=org.pk).get().day == date(2024, 6, 1)


@pytest.mark.django_db
def test_tag_report_counts_pending_and_folded_events_once(org: Organization) -> None:
    """Folded events come from the tag table (with the key) and the daily table minus it
    (without); pending ones from the queue, with and without the key."""
    base = {"model": "x-1", "timestamp": DAY0.isoformat()}
    ingest(
        org.pk,
        [
            event(**base, cost=Decimal("0.000000001"), tags={"team": "a"}),
            event(**base, cost=Decimal("0.000000002"), tags={"env": "prod"}),
            event(**base, cost=Decimal("0.000000004")),
        ],
    )
    session_rollup_drain(organization_id=org.pk)
    ingest(
        org.pk,
        [
            event(**base, cost=MAX_COST_USD, tags={"team": "a", "env": "prod"}),
            event(**base, cost=Decimal("0.000000008"), tags={"team": ""}),
            event(**base, cost=Decimal("0.000000016"), input_tokens=5),
        ],
    )
    assert PendingRollup.objects.filter(organization_id=org.pk).count() == 3
    filters = ReadFilters(kind="events")
    rows, more = selectors.cost_breakdown(organization=org, filters=filters, group_by="tag:team")
    assert not more
    nano = Decimal("0.000000001")
    assert [(r["key"], r["call_count"], r["input_tokens"], r["total_cost"]) for r in rows] == [
        ("a", 2, 0, MAX_COST_USD + nano),
        (None, 3, 5, 22 * nano),
        ("", 1, 0, 8 * nano),
    ]
    # team=a and env=prod, and the day's row of all events.
    assert DailyTagCost.objects.filter(organization_id=org.pk).count() == 3
