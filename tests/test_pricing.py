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
from tests.ingest_helpers import BATCH, EVENTS

# --- Price ----------------------------------------------------------------------------------


def price(inp: str, out: str, cached: str | None = None) -> Price:
    """A Price from USD-per-million strings, stored as integer micro-dollars per million."""

    def micros(usd: str) -> int:
        value = Decimal(usd) * 1_000_000
        assert value == value.to_integral_value()
        return int(value)

    return Price(
        model="m",
        is_pattern=False,
        is_override=False,
        effective_from=date(2024, 1, 1),
        input_micros=micros(inp),
        output_micros=micros(out),
        cached_input_micros=micros(cached if cached is not None else inp),
    )


def test_price_bills_uncached_cached_and_output_tokens() -> None:
    # 600 * 2.50 + 400 * 1.25 + 500 * 10 = 7000 USD per million = 7,000,000 nanos.
    assert price("2.50", "10", "1.25").cost_nanos(1000, 500, 400) == 7_000_000


def test_price_of_nothing_is_zero() -> None:
    assert price("2.50", "10", "1.25").cost_nanos(0, 0, 0) == 0


def test_cached_tokens_beyond_input_are_capped_at_input() -> None:
    # Only 100 input tokens exist to be cache hits: 100 * 1.25 * 1000.
    assert price("2.50", "10", "1.25").cost_nanos(100, 0, 500) == 125_000


def test_sub_nano_prices_round_half_to_even() -> None:
    # $0.0004 per million tokens is 0.4 nanos per token.
    p = price("0.0004", "0.0006", "0.0005")
    assert p.cost_nanos(1, 0, 0) == 0  # 0.4 nanos
    assert p.cost_nanos(0, 1, 0) == 1  # 0.6 nanos
    assert p.cost_nanos(1, 0, 1) == 0  # 0.5 nanos, to even
    assert p.cost_nanos(3, 0, 3) == 2  # 1.5 nanos, to even
    assert p.cost_nanos(0, 1_000_000, 0) == 600_000  # $0.0006 exactly, no float drift


def test_six_decimal_prices_are_exact() -> None:
    # gemini-1.5-pro cache: $0.3125 per million; 0.000001 is the finest ModelPrice step.
    assert price("0.3125", "0").cost_nanos(8, 0, 0) == 2_500
    # $0.000001 per million is 0.001 nanos per token.
    finest = price("0.000001", "0")
    assert finest.cost_nanos(1000, 0, 0) == 1
    assert finest.cost_nanos(1499, 0, 0) == 1  # 1.499 nanos
    assert finest.cost_nanos(1501, 0, 0) == 2  # 1.501 nanos
    assert finest.cost_nanos(2500, 0, 0) == 2  # 2.5 nanos, to even


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
    response = client.post_json(EVENTS, fields)
    assert response.status_code == 202, response.content
    return Event.objects.get(organization=client.organization, event_id=response.json()["event_id"])


def cost_of(client: KeyClient, **fields: Any) -> tuple[int, str]:
    stored = ingest(client, **fields)
    return stored.cost_nanos, stored.cost_source


@pytest.mark.django_db
def test_gpt_4o_is_priced_by_the_row_in_effect_at_the_timestamp(client: KeyClient) -> None:
    # 2024-06-01: $5 in / $15 out per million: 1000 * 5 + 500 * 15 = 12,500 -> 12,500,000 nanos.
    assert cost_of(
        client,
        model="gpt-4o",
        timestamp="2024-06-01T12:00:00Z",
        input_tokens=1000,
        output_tokens=500,
    ) == (12_500_000, "computed")
    # 2025-01-01: $2.50 / $10: 1000 * 2.5 + 500 * 10 = 7,500 -> 7,500,000 nanos.
    assert cost_of(
        client,
        model="gpt-4o",
        timestamp="2025-01-01T00:00:00Z",
        input_tokens=1000,
        output_tokens=500,
    ) == (7_500_000, "computed")


@pytest.mark.django_db
def test_price_date_is_the_utc_date_of_the_timestamp(client: KeyClient) -> None:
    # The new gpt-4o price starts 2024-10-02 (UTC).
    late_local = dict(model="gpt-4o", input_tokens=1000, output_tokens=500)
    # 2024-10-01 23:30 at -02:00 is 2024-10-02 01:30 UTC: the new price (7,500,000).
    assert cost_of(client, timestamp="2024-10-01T23:30:00-02:00", **late_local)[0] == 7_500_000
    # 2024-10-02 01:30 at +03:00 is 2024-10-01 22:30 UTC: the old price (12,500,000).
    assert cost_of(client, timestamp="2024-10-02T01:30:00+03:00", **late_local)[0] == 12_500_000


@pytest.mark.django_db
def test_cached_input_tokens_are_billed_at_the_cached_rate(client: KeyClient) -> None:
    # 2025: 600 uncached * 2.50 + 400 cached * 1.25 + 500 out * 10 = 7,000 -> 7,000,000.
    assert cost_of(
        client,
        model="gpt-4o",
        timestamp="2025-01-01T00:00:00Z",
        input_tokens=1000,
        cached_input_tokens=400,
        output_tokens=500,
    ) == (7_000_000, "computed")
    # The 2024-05 row has no cached price: cache hits cost the input price, 12,500,000 as above.
    assert cost_of(
        client,
        model="gpt-4o",
        timestamp="2024-06-01T00:00:00Z",
        input_tokens=1000,
        cached_input_tokens=400,
        output_tokens=500,
    ) == (12_500_000, "computed")


@pytest.mark.django_db
def test_dated_snapshot_is_priced_by_its_glob_row(client: KeyClient) -> None:
    # claude-3-5-sonnet-*: $3 in, $0.30 cache read, $15 out.
    # 1000 * 3 + 1000 * 0.30 + 300 * 15 = 7,800 -> 7,800,000 nanos.
    assert cost_of(
        client,
        model="claude-3-5-sonnet-20241022",
        timestamp="2024-11-01T00:00:00Z",
        input_tokens=2000,
        cached_input_tokens=1000,
        output_tokens=300,
    ) == (7_800_000, "computed")
    # claude-opus-4-1-*: $15 / $75: 1000 * 15 + 100 * 75 = 22,500 -> 22,500,000 nanos.
    assert cost_of(
        client,
        model="claude-opus-4-1-20250805",
        timestamp="2025-08-10T00:00:00Z",
        input_tokens=1000,
        output_tokens=100,
    ) == (22_500_000, "computed")


@pytest.mark.django_db
def test_longest_pattern_sets_the_price(client: KeyClient) -> None:
    # gpt-4.1-mini-* ($0.40 / $1.60) beats gpt-4.1-* ($2 / $8):
    # 10000 * 0.40 + 1000 * 1.60 = 5,600 -> 5,600,000 (gpt-4.1-* would give 28,000,000).
    assert cost_of(
        client,
        model="gpt-4.1-mini-2025-04-14",
        timestamp="2025-05-01T00:00:00Z",
        input_tokens=10_000,
        output_tokens=1000,
    ) == (5_600_000, "computed")
    # Same rule on rows added at run time: acme-pro-* (2) beats acme-* (1).
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
@pytest.mark.parametrize(
    ("model", "timestamp"),
    [
        ("my-finetune-v3", "2025-01-01T00:00:00Z"),
        ("gpt-5", "2025-01-01T00:00:00Z"),  # before its release: no row in effect yet
    ],
)
def test_model_without_a_price_is_stored_unpriced_at_zero(
    client: KeyClient, model: str, timestamp: str
) -> None:
    assert cost_of(
        client, model=model, timestamp=timestamp, input_tokens=5000, output_tokens=5000
    ) == (0, "unpriced")


@pytest.mark.django_db
def test_client_sent_cost_is_kept_and_marked_client(client: KeyClient) -> None:
    fields = dict(timestamp="2025-01-01T00:00:00Z", input_tokens=1000, output_tokens=500)
    assert cost_of(client, model="gpt-4o", cost=0.5, **fields) == (500_000_000, "client")
    assert cost_of(client, model="gpt-4o", cost=0, **fields) == (0, "client")
    assert cost_of(client, model="my-finetune-v3", cost=0.25, **fields) == (250_000_000, "client")


@pytest.mark.django_db
def test_one_batch_mixes_client_computed_and_unpriced(client: KeyClient) -> None:
    base = dict(timestamp="2025-01-01T00:00:00Z", input_tokens=1000, output_tokens=500)
    events = [
        {"event_id": "client", "model": "gpt-4o", "cost": 0.01, **base},
        {"event_id": "computed", "model": "gpt-4o", **base},
        {"event_id": "unpriced", "model": "in-house-llm", **base},
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
        {"event_id": f"c-{i}", "model": "gpt-4o", "cost": 0.0000015, "session_id": "exact"}
        for i in range(1000)
    ]
    response = client.post_json(BATCH, {"events": events})
    assert response.status_code == 202, response.content
    assert set(Event.objects.values_list("cost_nanos", flat=True)) == {1500}
    total = Event.objects.aggregate(total=Sum("cost_nanos"))["total"]
    assert total == 1_500_000
    assert Decimal(total) / Decimal(10**9) == Decimal("0.0015")
    assert sum((e.cost for e in Event.objects.all()), Decimal(0)) == Decimal("0.0015")
