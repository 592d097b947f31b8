"""Evaluation through the real ingest endpoint and the rollup: one alert per crossing, both
engines (in-process evaluation: the rollup's signal evaluates right after each chunk)."""

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from budgets.evaluation import budgets_evaluate_organization
from budgets.models import Alert
from infraprism.models import Organization
from sessions.signals import costs_changed
from tests.budgets.helpers import call, make_budget
from tests.conftest import KeyClient

pytestmark = pytest.mark.django_db


def crossings(budget_id: int) -> list[tuple[str, str, Decimal]]:
    rows = Alert.objects.filter(budget_id=budget_id).order_by("threshold", "transition")
    return [(a.type, a.scope_key, a.threshold.normalize()) for a in rows]


def test_single_events_cross_each_threshold_once(
    org: Organization, client: KeyClient, rollup: Callable[[], Any], settings: Any
) -> None:
    settings.ROLLUP_IN_PROCESS = True
    budget = make_budget(org, limit=Decimal("1.00"))
    for cost in ["0.30", "0.25", "0.05", "0.20", "0.19999"]:
        assert client.post_json("/v1/events", call(cost)).status_code == 202
        rollup()
    # 0.30, 0.55 (crosses 0.5), 0.60, 0.80 (crosses 0.8 exactly), 0.99999 (not 1.0)
    assert crossings(budget.pk) == [
        ("budget.threshold_crossed", "", Decimal("0.5")),
        ("budget.threshold_crossed", "", Decimal("0.8")),
    ]
    client.post_json("/v1/events", call("0.00001"))
    rollup()
    assert [c[2] for c in crossings(budget.pk)] == [Decimal("0.5"), Decimal("0.8"), Decimal("1")]
    budgets_evaluate_organization(organization_id=org.pk)  # again: nothing new
    assert len(crossings(budget.pk)) == 3


def test_one_batch_crosses_several_thresholds_and_scopes_are_separate(
    org: Organization, client: KeyClient, rollup: Callable[[], Any], settings: Any
) -> None:
    settings.ROLLUP_IN_PROCESS = True
    per_user = make_budget(
        org, scope="entity_type", entity_type="user", limit=Decimal("0.10"), thresholds=[Decimal(1)]
    )
    tagged = make_budget(org, scope="tag", tag="feature:chat", limit=Decimal("0.10"))
    gpt = make_budget(org, scope="model", model="gpt-4o-mini", limit=Decimal("0.10"))
    alice = make_budget(
        org, scope="entity", entity_type="user", entity_id="alice", limit=Decimal("0.10")
    )
    batch = [
        call("0.06", entity_type="user", entity_id="alice", tags={"feature": "chat"}),
        call("0.05", entity_type="user", entity_id="alice", model="gpt-4o-mini"),
        call("0.02", entity_type="user", entity_id="bob", tags={"feature": "search"}),
        call("0.20", entity_type="team", entity_id="alice"),
    ]
    assert client.post_json("/v1/events/batch", {"events": batch}).status_code == 202
    rollup()
    assert crossings(per_user.pk) == [("budget.threshold_crossed", "alice", Decimal(1))]
    assert [c[2] for c in crossings(tagged.pk)] == [Decimal("0.5")]
    assert [c[2] for c in crossings(gpt.pk)] == [Decimal("0.5")]
    assert [c[2] for c in crossings(alice.pk)] == [Decimal("0.5"), Decimal("0.8"), Decimal("1")]


def test_replays_shuffled_change_nothing(
    org: Organization, client: KeyClient, rollup: Callable[[], Any], settings: Any
) -> None:
    settings.ROLLUP_IN_PROCESS = True
    budget = make_budget(org, limit=Decimal("1"))
    events = [call("0.1", session_id=f"s-{i % 3}") for i in range(12)]  # 1.2 in all
    rng = random.Random(7)
    for _ in range(3):
        rng.shuffle(events)
        for chunk in (events[:5], events[5:]):
            client.post_json("/v1/events/batch", {"events": chunk})
            rollup()
    assert [c[2] for c in crossings(budget.pk)] == [Decimal("0.5"), Decimal("0.8"), Decimal("1")]


def test_repricing_down_recovers_and_up_again_crosses_again(
    org: Organization, client: KeyClient, rollup: Callable[[], Any], settings: Any
) -> None:
    settings.ROLLUP_IN_PROCESS = True
    budget = make_budget(org, limit=Decimal("1"), thresholds=[Decimal("0.5")])
    client.post_json("/v1/events", call("0.6", event_id="priced"))
    rollup()
    from ingestion.models import Event

    Event.objects.filter(organization=org, event_id="priced").update(cost_nanos=100_000_000)
    costs_changed.send(sender=None, organization_id=org.pk)
    Event.objects.filter(organization=org, event_id="priced").update(cost_nanos=700_000_000)
    costs_changed.send(sender=None, organization_id=org.pk)
    costs_changed.send(sender=None, organization_id=org.pk)
    assert [a[0] for a in crossings(budget.pk)] == [
        "budget.threshold_crossed",
        "budget.recovered",
        "budget.threshold_crossed",
    ]


def test_late_event_counts_in_its_own_period(org: Organization, client: KeyClient) -> None:
    budget = make_budget(org, limit=Decimal("1"), thresholds=[Decimal("1")])
    now = datetime.now(UTC)
    yesterday = (now - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    client.post_json("/v1/events", call("0.7", timestamp=yesterday.isoformat()))
    client.post_json("/v1/events", call("0.7"))  # today: yesterday stays at 0.7
    budgets_evaluate_organization(organization_id=org.pk)
    assert crossings(budget.pk) == []
    client.post_json(
        "/v1/events", call("0.3", timestamp=(yesterday + timedelta(hours=1)).isoformat())
    )
    budgets_evaluate_organization(organization_id=org.pk)
    alert = Alert.objects.get(budget=budget)
    assert alert.period_start.date() == yesterday.date() and alert.spend_nanos == 10**9


def test_other_organizations_spend_never_counts(
    org: Organization, other_client: KeyClient, client: KeyClient
) -> None:
    budget = make_budget(org, limit=Decimal("1"), thresholds=[Decimal("0.5")])
    other_client.post_json("/v1/events", call("5"))
    budgets_evaluate_organization(organization_id=org.pk)
    assert crossings(budget.pk) == []
    client.post_json("/v1/events", call("0.5"))
    budgets_evaluate_organization(organization_id=org.pk)
    assert Alert.objects.get(budget=budget).spend_nanos == 500_000_000


def test_periods_before_the_retention_cutoff_are_left_alone(
    org: Organization, client: KeyClient, settings: Any
) -> None:
    """Retention deletes old events: an old period's spend then shrinks, which is no recovery."""
    budget = make_budget(org, limit=Decimal("1"), thresholds=[Decimal("1")])
    now = datetime.now(UTC)
    old = (now - timedelta(days=3)).replace(hour=12)
    client.post_json("/v1/events", call("2", event_id="old", timestamp=old.isoformat()))
    budgets_evaluate_organization(organization_id=org.pk, now=old + timedelta(hours=1))
    assert len(crossings(budget.pk)) == 1
    from ingestion.models import Event

    Event.objects.filter(organization=org, event_id="old").delete()  # as retention would
    org.retention_days = 2
    org.save()
    budgets_evaluate_organization(organization_id=org.pk)
    assert crossings(budget.pk) == [("budget.threshold_crossed", "", Decimal(1))]
    org.retention_days = None
    org.save()
    settings.EVENT_RETENTION_DAYS = None
    budgets_evaluate_organization(organization_id=org.pk)  # no retention: re-pricing's case
    assert [c[0] for c in crossings(budget.pk)][-1] == "budget.recovered"


def test_parse_scopes_takes_manage() -> None:
    from infraprism.services import parse_scopes

    assert parse_scopes("manage,read") == ["manage", "read"]


def test_repricing_through_the_reprice_service_sends_a_recovery(
    org: Organization, client: KeyClient, rollup: Callable[[], Any], settings: Any
) -> None:
    from datetime import date

    from ingestion.models import ModelPrice
    from sessions.reprice import reprice

    settings.ROLLUP_IN_PROCESS = True
    budget = make_budget(org, limit=Decimal("2"), thresholds=[Decimal("1")])
    priced = {"model": "gpt-4o", "input_tokens": 1_000_000, "session_id": "s-1"}
    assert client.post_json("/v1/events", {"event_id": "big", **priced}).status_code == 202
    rollup()
    assert [a[0] for a in crossings(budget.pk)] == ["budget.threshold_crossed"]
    ModelPrice.objects.create(
        organization=org,
        model="gpt-4o",
        input_per_million=Decimal("1"),
        output_per_million=Decimal("1"),
        effective_from=date(2020, 1, 1),
    )
    assert reprice(organization_id=org.pk).events_changed == 1
    assert [a[0] for a in crossings(budget.pk)] == [
        "budget.threshold_crossed",
        "budget.recovered",
    ]
    recovered = Alert.objects.get(budget=budget, type="budget.recovered")
    assert recovered.spend_nanos == 1_000_000_000


def test_sessionless_calls_count_and_alert_after_their_rollup(
    org: Organization, client: KeyClient, rollup: Callable[[], Any], settings: Any
) -> None:
    settings.ROLLUP_IN_PROCESS = True
    budget = make_budget(org, scope="model", model="gpt-4o", limit=Decimal("1"))
    from tests.factories import event

    client.post_json("/v1/events/batch", {"events": [event(cost=0.3), event(cost=0.3)]})
    rollup()
    assert [c[2] for c in crossings(budget.pk)] == [Decimal("0.5")]


def test_rolling_window_recovers_as_spend_slides_out_and_alerts_again(
    org: Organization, client: KeyClient
) -> None:
    budget = make_budget(
        org, period="rolling", window_hours=2, limit=Decimal("1"), thresholds=[Decimal(1)]
    )
    start = datetime(2026, 6, 1, 12, tzinfo=UTC)
    client.post_json("/v1/events", call("1", timestamp=start.isoformat()))
    budgets_evaluate_organization(organization_id=org.pk, now=start + timedelta(minutes=30))
    budgets_evaluate_organization(organization_id=org.pk, now=start + timedelta(hours=1))
    budgets_evaluate_organization(organization_id=org.pk, now=start + timedelta(hours=3))
    later = start + timedelta(hours=4)
    client.post_json("/v1/events", call("1.5", timestamp=later.isoformat()))
    budgets_evaluate_organization(organization_id=org.pk, now=later + timedelta(minutes=1))
    assert [c[0] for c in crossings(budget.pk)] == [
        "budget.threshold_crossed",
        "budget.recovered",
        "budget.threshold_crossed",
    ]
    last = Alert.objects.filter(budget=budget).order_by("transition").last()
    assert last is not None and last.period_start == later + timedelta(minutes=1, hours=-2)
