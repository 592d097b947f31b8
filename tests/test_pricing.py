"""Cost computation (SPEC section 6): the PriceBook and Price directly, the shipped list prices
through the API, organization overrides, and exact sums.

Expected costs are worked out by hand in each test from the published per-million prices:
nanos = tokens * USD-per-million * 1000.
"""

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Sum

from infraprism.models import Organization
from ingestion.models import Event, ModelPrice
from ingestion.pricing import Price, PriceBook
from tests.conftest import KeyClient
from tests.factories import event
from tests.ingest_helpers import BATCH, EVENTS

# --- Price ----------------------------------------------------------------------------------


def price(inp: str, out: str, cached: str | None = None) -> Price:
    """A Price from USD-per-million strings, stored as integer micro-dollars per million."""

    def micros(usd: str) -> int:
        value = Decimal(usd) * 1_000_000
        assert value == value.to_integral_value()
        return int(value)

    return Price(
        id=1,
        model="m",
        is_pattern=False,
        is_override=False,
        effective_from=date(2024, 1, 1),
        input_micros=micros(inp),
        output_micros=micros(out),
        cached_input_micros=micros(cached if cached is not None else inp),
    )


# (USD per million: input, output, cached), (input, output, cached tokens), nanos.
PRICE_CASES = {
    # 600 * 2.50 + 400 * 1.25 + 500 * 10 = 7000 USD per million = 7,000,000 nanos.
    "uncached-cached-and-output": (("2.50", "10", "1.25"), (1000, 500, 400), 7_000_000),
    "nothing-is-zero": (("2.50", "10", "1.25"), (0, 0, 0), 0),
    # Only 100 input tokens exist to be cache hits: 100 * 1.25 * 1000.
    "cached-capped-at-input": (("2.50", "10", "1.25"), (100, 0, 500), 125_000),
    # $0.0004 per million tokens is 0.4 nanos per token: sub-nano prices round half to even.
    "sub-nano-0.4": (("0.0004", "0.0006", "0.0005"), (1, 0, 0), 0),
    "sub-nano-0.6": (("0.0004", "0.0006", "0.0005"), (0, 1, 0), 1),
    "sub-nano-0.5-to-even": (("0.0004", "0.0006", "0.0005"), (1, 0, 1), 0),
    "sub-nano-1.5-to-even": (("0.0004", "0.0006", "0.0005"), (3, 0, 3), 2),
    # $0.0006 exactly, no float drift.
    "sub-nano-million": (("0.0004", "0.0006", "0.0005"), (0, 1_000_000, 0), 600_000),
    # gemini-1.5-pro cache: $0.3125 per million; 0.000001 is the finest ModelPrice step.
    "six-decimals": (("0.3125", "0", None), (8, 0, 0), 2_500),
    # $0.000001 per million is 0.001 nanos per token.
    "finest-step-1": (("0.000001", "0", None), (1000, 0, 0), 1),
    "finest-step-1.499": (("0.000001", "0", None), (1499, 0, 0), 1),
    "finest-step-1.501": (("0.000001", "0", None), (1501, 0, 0), 2),
    "finest-step-2.5-to-even": (("0.000001", "0", None), (2500, 0, 0), 2),
}


@pytest.mark.parametrize(("usd", "tokens", "nanos"), PRICE_CASES.values(), ids=PRICE_CASES.keys())
def test_price_cost_in_nanos(
    usd: tuple[str, str, str | None], tokens: tuple[int, int, int], nanos: int
) -> None:
    assert price(*usd).cost_nanos(*tokens) == nanos


def test_largest_token_counts_fit_a_bigint() -> None:
    top = 2**31 - 1
    nanos = price("75", "150", "75").cost_nanos(top, top, 0)
    assert nanos == top * (75 + 150) * 1000
    assert nanos < 2**63


# --- PriceBook over hand-made rows (no database) --------------------------------------------


def row(
    model: str,
    inp: str,
    out: str = "0",
    cached: str | None = None,
    since: date = date(2024, 1, 1),
    org: int | None = None,
) -> ModelPrice:
    return ModelPrice(
        organization_id=org,
        model=model,
        input_per_million=Decimal(inp),
        output_per_million=Decimal(out),
        cached_input_per_million=Decimal(cached) if cached is not None else None,
        effective_from=since,
    )


def looked_up(book: PriceBook, model: str, on: date) -> tuple[str, Decimal, bool] | None:
    """(model or pattern, input USD per million, is an override) of the row found."""
    found = book.lookup(model, on)
    if found is None:
        return None
    return found.model, Decimal(found.input_micros) / 1_000_000, found.is_override


def test_exact_row_beats_a_matching_pattern() -> None:
    book = PriceBook([row("gpt-x*", "9"), row("gpt-x", "1")])
    assert looked_up(book, "gpt-x", date(2024, 6, 1)) == ("gpt-x", Decimal(1), False)
    assert looked_up(book, "gpt-x-2024", date(2024, 6, 1)) == ("gpt-x*", Decimal(9), False)


def test_longest_matching_pattern_wins() -> None:
    book = PriceBook([row("claude-*", "1"), row("claude-opus-*", "3"), row("claude-op*", "2")])
    assert looked_up(book, "claude-opus-4", date(2024, 6, 1)) == (
        "claude-opus-*",
        Decimal(3),
        False,
    )
    assert looked_up(book, "claude-opal", date(2024, 6, 1)) == ("claude-op*", Decimal(2), False)
    assert looked_up(book, "claude-haiku", date(2024, 6, 1)) == ("claude-*", Decimal(1), False)


def test_patterns_are_globs_over_the_whole_name() -> None:
    book = PriceBook([row("gpt-4?", "1"), row("o[13]-mini", "2")])
    assert looked_up(book, "gpt-4o", date(2024, 6, 1)) == ("gpt-4?", Decimal(1), False)
    assert looked_up(book, "gpt-4o-mini", date(2024, 6, 1)) is None
    assert looked_up(book, "o3-mini", date(2024, 6, 1)) == ("o[13]-mini", Decimal(2), False)
    assert looked_up(book, "o2-mini", date(2024, 6, 1)) is None
    assert looked_up(book, "xgpt-4o", date(2024, 6, 1)) is None


def test_latest_row_in_effect_on_the_date_wins() -> None:
    book = PriceBook([row("m", "1", since=date(2024, 1, 1)), row("m", "2", since=date(2024, 6, 1))])
    assert looked_up(book, "m", date(2023, 12, 31)) is None
    assert looked_up(book, "m", date(2024, 1, 1)) == ("m", Decimal(1), False)
    assert looked_up(book, "m", date(2024, 5, 31)) == ("m", Decimal(1), False)
    assert looked_up(book, "m", date(2024, 6, 1)) == ("m", Decimal(2), False)
    assert looked_up(book, "m", date(2030, 1, 1)) == ("m", Decimal(2), False)


def test_override_beats_global_only_from_its_effective_date() -> None:
    book = PriceBook([row("m", "1"), row("m", "5", since=date(2024, 6, 1), org=7)])
    assert looked_up(book, "m", date(2024, 5, 31)) == ("m", Decimal(1), False)
    assert looked_up(book, "m", date(2024, 6, 1)) == ("m", Decimal(5), True)


def test_override_pattern_beats_global_exact_row() -> None:
    book = PriceBook([row("m", "1"), row("m*", "5", org=7)])
    assert looked_up(book, "m", date(2024, 6, 1)) == ("m*", Decimal(5), True)


def test_missing_cached_price_means_the_input_price() -> None:
    book = PriceBook([row("m", "3", "4"), row("n", "3", "4", cached="0.3")])
    m = book.lookup("m", date(2024, 6, 1))
    n = book.lookup("n", date(2024, 6, 1))
    assert m is not None and n is not None
    assert m.cached_input_micros == 3_000_000
    assert n.cached_input_micros == 300_000


def test_unknown_model_has_no_price() -> None:
    assert PriceBook([row("m", "1")]).lookup("other", date(2024, 6, 1)) is None
    assert PriceBook([]).lookup("m", date(2024, 6, 1)) is None


# --- the shipped list prices ----------------------------------------------------------------


@pytest.mark.django_db
def test_for_organization_sees_global_rows_and_only_its_own_overrides(
    make_org: Callable[..., Organization],
) -> None:
    mine, theirs = make_org(), make_org()
    ModelPrice.objects.create(
        organization=theirs,
        model="gpt-4o",
        input_per_million=Decimal(1),
        output_per_million=Decimal(1),
        effective_from=date(2024, 1, 1),
    )
    found = PriceBook.for_organization(mine.pk).lookup("gpt-4o", date(2025, 1, 1))
    assert found is not None
    assert (found.is_override, found.input_micros) == (False, 2_500_000)
    found = PriceBook.for_organization(theirs.pk).lookup("gpt-4o", date(2025, 1, 1))
    assert found is not None
    assert (found.is_override, found.input_micros) == (True, 1_000_000)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "on", "pattern"),
    [
        ("claude-opus-4-1-20250805", date(2025, 8, 10), "claude-opus-4-1-*"),
        ("claude-opus-4-20250514", date(2025, 8, 10), "claude-opus-4-*"),
        ("claude-3-5-sonnet-20241022", date(2024, 11, 1), "claude-3-5-sonnet-*"),
        ("gpt-4.1-mini-2025-04-14", date(2025, 5, 1), "gpt-4.1-mini-*"),
        ("gpt-4.1-2025-04-14", date(2025, 5, 1), "gpt-4.1-*"),
    ],
)
def test_shipped_dated_snapshots_match_the_longest_pattern(
    org: Organization, model: str, on: date, pattern: str
) -> None:
    found = PriceBook.for_organization(org.pk).lookup(model, on)
    assert found is not None
    assert (found.model, found.is_pattern) == (pattern, True)


# --- through the API ------------------------------------------------------------------------


def ingest(client: KeyClient, **fields: Any) -> Event:
    response = client.post_json(EVENTS, event(None, **fields))
    assert response.status_code == 202, response.content
    return Event.objects.get(organization=client.organization, event_id=response.json()["event_id"])


def cost_of(client: KeyClient, **fields: Any) -> tuple[int, str]:
    stored = ingest(client, **fields)
    return stored.cost_nanos, stored.cost_source


TOKENS = {"input_tokens": 1000, "output_tokens": 500}

# (fields of one event, stored (cost_nanos, cost_source)), each worked out by hand.
STORED_COSTS = {
    # gpt-4o on 2024-06-01: $5 in / $15 out per million: 1000 * 5 + 500 * 15 = 12,500.
    "gpt-4o-2024-price": (
        dict(model="gpt-4o", timestamp="2024-06-01T12:00:00Z", **TOKENS),
        (12_500_000, "computed"),
    ),
    # gpt-4o on 2025-01-01: $2.50 / $10: 1000 * 2.5 + 500 * 10 = 7,500.
    "gpt-4o-2025-price": (
        dict(model="gpt-4o", timestamp="2025-01-01T00:00:00Z", **TOKENS),
        (7_500_000, "computed"),
    ),
    # The price date is the UTC date of the timestamp; the new gpt-4o price starts 2024-10-02.
    # 2024-10-01 23:30 at -02:00 is 2024-10-02 01:30 UTC: the new price.
    "utc-date-after-local-midnight": (
        dict(model="gpt-4o", timestamp="2024-10-01T23:30:00-02:00", **TOKENS),
        (7_500_000, "computed"),
    ),
    # 2024-10-02 01:30 at +03:00 is 2024-10-01 22:30 UTC: the old price.
    "utc-date-before-local-midnight": (
        dict(model="gpt-4o", timestamp="2024-10-02T01:30:00+03:00", **TOKENS),
        (12_500_000, "computed"),
    ),
    # 2025: 600 uncached * 2.50 + 400 cached * 1.25 + 500 out * 10 = 7,000.
    "cached-input-at-the-cached-rate": (
        dict(model="gpt-4o", timestamp="2025-01-01T00:00:00Z", cached_input_tokens=400, **TOKENS),
        (7_000_000, "computed"),
    ),
    # The 2024-05 row has no cached price: cache hits cost the input price, 12,500 as above.
    "cached-input-without-a-cached-price": (
        dict(model="gpt-4o", timestamp="2024-06-01T00:00:00Z", cached_input_tokens=400, **TOKENS),
        (12_500_000, "computed"),
    ),
    # A dated snapshot, priced by its glob row claude-3-5-sonnet-*: $3 in, $0.30 cache read,
    # $15 out: 1000 * 3 + 1000 * 0.30 + 300 * 15 = 7,800.
    "snapshot-by-glob-claude-sonnet": (
        dict(
            model="claude-3-5-sonnet-20241022",
            timestamp="2024-11-01T00:00:00Z",
            input_tokens=2000,
            cached_input_tokens=1000,
            output_tokens=300,
        ),
        (7_800_000, "computed"),
    ),
    # claude-opus-4-1-*: $15 / $75: 1000 * 15 + 100 * 75 = 22,500.
    "snapshot-by-glob-claude-opus": (
        dict(
            model="claude-opus-4-1-20250805",
            timestamp="2025-08-10T00:00:00Z",
            input_tokens=1000,
            output_tokens=100,
        ),
        (22_500_000, "computed"),
    ),
    # gpt-4.1-mini-* ($0.40 / $1.60) beats gpt-4.1-* ($2 / $8):
    # 10000 * 0.40 + 1000 * 1.60 = 5,600 (gpt-4.1-* would give 28,000).
    "longest-pattern-sets-the-price": (
        dict(
            model="gpt-4.1-mini-2025-04-14",
            timestamp="2025-05-01T00:00:00Z",
            input_tokens=10_000,
            output_tokens=1000,
        ),
        (5_600_000, "computed"),
    ),
    # No price at all: stored unpriced at zero.
    "unpriced-finetune": (
        dict(model="my-finetune-v3", timestamp="2025-01-01T00:00:00Z", input_tokens=5000,
             output_tokens=5000),
        (0, "unpriced"),
    ),
    # Before its release: no row in effect yet.
    "unpriced-before-release": (
        dict(model="gpt-5", timestamp="2025-01-01T00:00:00Z", input_tokens=5000,
             output_tokens=5000),
        (0, "unpriced"),
    ),
    # A cost the client sent is kept and marked client, whatever the price or its absence.
    "client-cost-kept": (
        dict(model="gpt-4o", cost=0.5, timestamp="2025-01-01T00:00:00Z", **TOKENS),
        (500_000_000, "client"),
    ),
    "client-cost-zero-kept": (
        dict(model="gpt-4o", cost=0, timestamp="2025-01-01T00:00:00Z", **TOKENS),
        (0, "client"),
    ),
    "client-cost-of-unpriced-model-kept": (
        dict(model="my-finetune-v3", cost=0.25, timestamp="2025-01-01T00:00:00Z", **TOKENS),
        (250_000_000, "client"),
    ),
}  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(("fields", "stored"), STORED_COSTS.values(), ids=STORED_COSTS.keys())
def test_stored_cost_of_one_event(
    client: KeyClient, fields: dict[str, Any], stored: tuple[int, str]
) -> None:
    assert cost_of(client, **fields) == stored


@pytest.mark.django_db
def test_longest_pattern_wins_among_rows_added_at_run_time(client: KeyClient) -> None:
    # acme-pro-* (2) beats acme-* (1).
    for model, inp in (("acme-*", 1), ("acme-pro-*", 2)):
        ModelPrice.objects.create(
            model=model,
            input_per_million=Decimal(inp),
            output_per_million=Decimal(0),
            effective_from=date(2024, 1, 1),
        )
    assert cost_of(client, model="acme-pro-7", input_tokens=1000)[0] == 2_000_000
    assert cost_of(client, model="acme-lite", input_tokens=1000)[0] == 1_000_000


@pytest.mark.django_db
def test_organization_override_applies_from_its_effective_date(
    client: KeyClient, other_client: KeyClient
) -> None:
    ModelPrice.objects.create(
        organization=client.organization,
        model="gpt-4o",
        input_per_million=Decimal("1.00"),
        output_per_million=Decimal("2.00"),
        effective_from=date(2025, 3, 1),
    )
    tokens = dict(model="gpt-4o", input_tokens=1000, output_tokens=500)
    # Before the override: the global $2.50 / $10 row, 7,500,000.
    assert cost_of(client, timestamp="2025-02-28T23:59:59Z", **tokens) == (7_500_000, "computed")
    # From it: 1000 * 1 + 500 * 2 = 2,000 -> 2,000,000.
    assert cost_of(client, timestamp="2025-03-01T00:00:00Z", **tokens) == (2_000_000, "computed")
    # No cached price on the override: cache hits at its input price, still 2,000,000.
    assert cost_of(client, timestamp="2025-03-01T00:00:00Z", cached_input_tokens=400, **tokens) == (
        2_000_000,
        "computed",
    )
    # Another organization keeps the list price.
    assert cost_of(other_client, timestamp="2025-03-01T00:00:00Z", **tokens) == (
        7_500_000,
        "computed",
    )


@pytest.mark.django_db
def test_organization_pattern_override_beats_the_global_exact_row(client: KeyClient) -> None:
    ModelPrice.objects.create(
        organization=client.organization,
        model="gpt-4o*",
        input_per_million=Decimal("0.50"),
        output_per_million=Decimal("0.50"),
        effective_from=date(2024, 1, 1),
    )
    # 1000 * 0.5 + 500 * 0.5 = 750 -> 750,000.
    assert cost_of(
        client,
        model="gpt-4o",
        timestamp="2025-01-01T00:00:00Z",
        input_tokens=1000,
        output_tokens=500,
    ) == (750_000, "computed")


@pytest.mark.django_db
def test_one_batch_mixes_client_computed_and_unpriced(client: KeyClient) -> None:
    base = dict(timestamp="2025-01-01T00:00:00Z", input_tokens=1000, output_tokens=500)
    events = [
        event("client", model="gpt-4o", cost=0.01, **base),
        event("computed", model="gpt-4o", **base),
        event("unpriced", model="in-house-llm", **base),
    ]
    response = client.post_json(BATCH, {"events": events})
    assert response.status_code == 202, response.content
    stored = {e.event_id: (e.cost_nanos, e.cost_source) for e in Event.objects.all()}
    assert stored == {
        "client": (10_000_000, "client"),
        "computed": (7_500_000, "computed"),
        "unpriced": (0, "unpriced"),
    }


@pytest.mark.django_db
def test_a_thousand_client_costs_sum_exactly(client: KeyClient) -> None:
    events = [
        event(f"c-{i}", model="gpt-4o", cost=0.0000015, session_id="exact") for i in range(1000)
    ]
    response = client.post_json(BATCH, {"events": events})
    assert response.status_code == 202, response.content
    assert set(Event.objects.values_list("cost_nanos", flat=True)) == {1500}
    total = Event.objects.aggregate(total=Sum("cost_nanos"))["total"]
    assert total == 1_500_000
    assert Decimal(total) / Decimal(10**9) == Decimal("0.0015")
    assert sum((e.cost for e in Event.objects.all()), Decimal(0)) == Decimal("0.0015")
