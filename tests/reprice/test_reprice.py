"""Re-pricing (sessions/reprice.py, `manage.py reprice`): computed costs follow the current
price table, client costs never move, and every aggregate ends equal to a recomputation from
the events (tests/rollup/recompute.py), also after a run that dies between chunks and is
started again. Runs on whichever engine the suite uses: both in CI.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from infraprism.models import Organization
from ingestion.models import Event, ModelPrice
from ingestion.pricing import PriceBook
from sessions.reprice import RepriceResult, reprice
from sessions.services import session_rollup_drain
from sessions.signals import costs_changed
from tests.factories import event
from tests.rollup.helpers import ingest, pending
from tests.rollup.recompute import (
    recompute,
    recompute_daily,
    recompute_daily_tags,
    snapshot,
    snapshot_daily,
    snapshot_daily_tags,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 6, 1, 12, tzinfo=UTC)
CLIENT_COST = Decimal("0.123456789")


def world(org: Organization) -> None:
    """Priced gpt-4o events (with and without sessions, over three days), client-costed
    gpt-4o events, and events of a model nothing prices yet; part rolled up, part pending."""
    items: list[dict[str, Any]] = []
    for i in range(30):
        item = event(
            f"p{i}",
            model="gpt-4o",
            timestamp=(T0 + timedelta(hours=5 * i)).isoformat(),
            input_tokens=1000 + 37 * i,
            output_tokens=100 + 11 * i,
            cached_input_tokens=7 * i,
            provider="openai",
        )
        if i % 3:
            item["session_id"] = f"s{i % 4}"
        if i % 5 == 0:
            item["entity_type"], item["entity_id"] = "customer", f"c{i % 2}"
        if i % 4:  # the daily tag table: events with one, two or no tags
            item["tags"] = {"team": f"t{i % 3}", **({"env": "prod"} if i % 2 else {})}
        items.append(item)
    for i in range(6):
        items.append(
            event(f"c{i}", model="gpt-4o", timestamp=T0.isoformat(), cost=CLIENT_COST,
                  input_tokens=999, session_id="s1", tags={"team": "t0"})
        )  # fmt: skip
        items.append(
            event(f"u{i}", model="house-model", timestamp=T0.isoformat(), input_tokens=10**6,
                  output_tokens=10**5, session_id=f"s{i % 2}", tags={"team": f"t{i % 2}"})
        )  # fmt: skip
    ingest(org.pk, items[:20])
    session_rollup_drain(organization_id=org.pk)
    ingest(org.pk, items[20:])  # these stay pending through the re-pricing
    assert pending(org.pk) == len(items) - 20


def cheaper_prices(org: Organization) -> None:
    """An override for gpt-4o in effect before every event, and a first price for house-model."""
    for model, per_in, per_out in (("gpt-4o", "1.111111", "3.333333"), ("house-model", "7", "9")):
        ModelPrice.objects.create(
            organization=org, model=model, input_per_million=Decimal(per_in),
            output_per_million=Decimal(per_out), effective_from=date(2024, 1, 1),
        )  # fmt: skip


def expected_costs(org: Organization) -> dict[str, tuple[int, str, int | None]]:
    book = PriceBook.current(org.pk)
    expected = {}
    for e in Event.objects.filter(organization=org):
        if e.cost_source == Event.CostSource.CLIENT:
            expected[e.event_id] = (e.cost_nanos, e.cost_source, e.price_id)
            continue
        price = book.lookup(e.model, e.timestamp.astimezone(UTC).date())
        assert price is not None
        cost = price.cost_nanos(e.input_tokens, e.output_tokens, e.cached_input_tokens)
        expected[e.event_id] = (cost, "computed", price.id)
    return expected


def stored_costs(org: Organization) -> dict[str, tuple[int, str, int | None]]:
    return {
        e.event_id: (e.cost_nanos, e.cost_source, e.price_id)
        for e in Event.objects.filter(organization=org)
    }


def assert_aggregates_exact(org: Organization) -> None:
    """Before and after draining the rest, every aggregate equals a recomputation."""
    session_rollup_drain(organization_id=org.pk)
    assert pending(org.pk) == 0
    assert snapshot(org.pk) == recompute(org.pk)
    assert snapshot_daily(org.pk) == recompute_daily(org.pk)
    assert snapshot_daily_tags(org.pk) == recompute_daily_tags(org.pk)


def assert_folded_exact(org: Organization) -> None:
    """While events are pending: the daily table holds exactly the folded events on both
    engines (reports add the queue); so do the sessions on PostgreSQL (SQLite's rollup
    recomputes a touched session from all of its events, pending ones included)."""
    assert snapshot_daily(org.pk) == recompute_daily(org.pk, folded_only=True)
    assert snapshot_daily_tags(org.pk) == recompute_daily_tags(org.pk, folded_only=True)
    if connection.vendor == "postgresql":
        assert snapshot(org.pk) == recompute(org.pk, folded_only=True)


def test_events_record_the_price_row_that_priced_them(org: Organization) -> None:
    ingest(org.pk, [
        event("priced", model="gpt-4o", timestamp=T0.isoformat(), input_tokens=10),
        event("client", model="gpt-4o", timestamp=T0.isoformat(), cost=Decimal(1)),
        event("unpriced", model="house-model", timestamp=T0.isoformat(), input_tokens=10),
    ])  # fmt: skip
    price = ModelPrice.objects.get(organization=None, model="gpt-4o", effective_from="2024-05-13")
    stored = {
        e.event_id: (e.cost_source, e.price_id) for e in Event.objects.filter(organization=org)
    }
    assert stored == {
        "priced": ("computed", price.pk),
        "client": ("client", None),
        "unpriced": ("unpriced", None),
    }


def test_reprice_follows_the_price_table_and_moves_aggregates_by_the_difference(
    org: Organization, other_org: Organization
) -> None:
    world(org)
    world(other_org)
    before_other = (stored_costs(other_org), snapshot(other_org.pk), snapshot_daily(other_org.pk))
    cheaper_prices(org)
    signals: list[int] = []

    def heard(sender: Any, organization_id: int, **kwargs: Any) -> None:
        signals.append(organization_id)

    costs_changed.connect(heard)
    try:
        result = reprice(organization_id=org.pk, chunk_size=7)
    finally:
        costs_changed.disconnect(heard)
    expected = expected_costs(org)
    assert stored_costs(org) == expected
    assert result.events_changed == 36  # 30 priced gpt-4o, 6 house-model; no client cost
    assert set(result.by_model) == {"gpt-4o", "house-model"}
    assert signals and set(signals) == {org.pk}
    assert_folded_exact(org)
    assert_aggregates_exact(org)
    # Client costs are untouched, and the other tenant saw nothing.
    assert all(expected[f"c{i}"][0] == 123456789 for i in range(6))
    assert (stored_costs(other_org), snapshot(other_org.pk), snapshot_daily(other_org.pk)) == (
        before_other
    )
    # Again: nothing left to change.
    assert reprice(organization_id=org.pk).events_changed == 0
    assert_aggregates_exact(org)


class Crash(Exception):
    pass


def test_a_run_that_dies_between_chunks_and_starts_again_ends_exact(org: Organization) -> None:
    world(org)
    cheaper_prices(org)

    def die_after_two(result: RepriceResult) -> None:
        if result.chunks == 2:
            raise Crash

    with pytest.raises(Crash):
        reprice(organization_id=org.pk, chunk_size=5, after_chunk=die_after_two)
    halfway = stored_costs(org)
    assert halfway != expected_costs(org)  # really stopped part way
    assert_folded_exact(org)
    result = reprice(organization_id=org.pk, chunk_size=5)
    assert 0 < result.events_changed < 36
    assert stored_costs(org) == expected_costs(org)
    assert_aggregates_exact(org)


def test_filters_and_dry_run(org: Organization) -> None:
    world(org)
    cheaper_prices(org)
    before = stored_costs(org)
    out = StringIO()
    call_command("reprice", org.slug, "--dry-run", "--model", "gpt-4o", stdout=out)
    assert stored_costs(org) == before
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("gpt-4o: 30 events, difference -")
    assert lines[-1].startswith("total: would change 30 events, difference -")
    # --since/--until are inclusive UTC dates: the first day's events only.
    day = T0.date().isoformat()
    call_command("reprice", org.slug, "--since", day, "--until", day, stdout=StringIO())
    first_day = {
        e.event_id for e in Event.objects.filter(organization=org)
        if e.timestamp.date() == T0.date()
    }  # fmt: skip
    changed = {k for k, v in stored_costs(org).items() if v != before[k]}
    assert changed and changed <= first_day
    assert_aggregates_exact(org)
    call_command("reprice", org.slug, stdout=StringIO())
    assert stored_costs(org) == expected_costs(org)
    assert_aggregates_exact(org)


def test_admin_action_queues_a_reprice_per_organization(
    admin_client: Any, org: Organization, other_org: Organization
) -> None:
    from infraprism.celery import app

    world(org)
    world(other_org)
    before_other = stored_costs(other_org)
    cheaper_prices(org)  # overrides: only this organization is re-priced
    prices = ModelPrice.objects.filter(organization=org)
    app.conf.task_always_eager = True  # the real task, run in this process
    try:
        response = admin_client.post(
            "/admin/ingestion/modelprice/",
            {"action": "reprice_events", "_selected_action": [p.pk for p in prices]},
        )
    finally:
        app.conf.task_always_eager = False
    assert response.status_code == 302, response.content
    assert stored_costs(org) == expected_costs(org)
    assert stored_costs(other_org) == before_other
    assert_aggregates_exact(org)
