"""Events, HTTP clients and the oracle shared by the reliability tests.

The oracle is the suite's one (tests/rollup/recompute.py): `recompute` applies it to the stored
events, `expected_from` to the events the test generated, independent of the database
altogether; both project it onto AGGREGATE_FIELDS.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests
from django.db import connection

from tests import factories
from tests.rollup import recompute as oracle

# Figures for docs/reliability.md, printed at the end of the run (see conftest.py).
FIGURES: dict[str, int] = Counter()


def record(**figures: int) -> None:
    for name, value in figures.items():
        FIGURES[name] += value


BASE_TS = datetime(2024, 6, 1, tzinfo=UTC)
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20241022", "gemini-1.5-pro", "no-price-x")


def cost_of(nanos: int) -> float:
    """A JSON number whose decimal text is exactly `nanos` * 1e-9 USD."""
    value = nanos / 1e9
    assert Decimal(repr(value)) * 1_000_000_000 == nanos, nanos
    return value


def make_events(n: int, *, sessions: int, seed: int, prefix: str) -> list[dict[str, Any]]:
    """n varied events over `sessions` sessions (some events in no session)."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        # Keyword arguments are evaluated in order: the seeded draws are the same on every run.
        event = factories.event(
            f"{prefix}-{i}",
            timestamp=(
                BASE_TS
                + timedelta(seconds=rng.randrange(30 * 86400), microseconds=rng.randrange(10**6))
            ).isoformat(),
            model=rng.choice(MODELS),
            provider=rng.choice(("openai", "anthropic", "google", "")),
            input_tokens=rng.randrange(20_000),
            output_tokens=rng.randrange(4_000),
            cached_input_tokens=rng.randrange(1_000),
            cost=cost_of(rng.randrange(50_000_000)),
            latency_ms=rng.randrange(30_000),
            status="error" if rng.random() < 0.07 else "success",
        )
        if rng.random() < 0.95:
            event["session_id"] = f"{prefix}-s{rng.randrange(sessions)}"
        if rng.random() < 0.6:
            event["entity_type"] = "customer"
            event["entity_id"] = f"cust-{rng.randrange(50)}"
        if rng.random() < 0.5:
            event["tags"] = {"feature": rng.choice(("chat", "search", "summarize"))}
        events.append(event)
    return events


def batches(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


# --- Oracle ---------------------------------------------------------------------------------

Aggregate = tuple[int, int, int, int, int, datetime, datetime, int]
AGGREGATE_FIELDS = (
    "turn_count",
    "total_cost_nanos",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "first_seen",
    "last_seen",
    "error_count",
)

_STORED = """
SELECT session_id, turn_count, total_cost_nanos, input_tokens, output_tokens,
       cached_input_tokens, first_seen, last_seen, error_count
FROM llm_sessions_session WHERE organization_id = %s
"""
# Per session: the events already folded in (not pending) must be exactly what the aggregate
# holds, at every instant, whatever crashed.
_FOLDED = """
SELECT e.session_id, count(*) FILTER (WHERE p.id IS NULL),
       coalesce(sum(e.cost_nanos) FILTER (WHERE p.id IS NULL), 0)
FROM ingestion_event e LEFT JOIN ingestion_pendingrollup p ON p.event_pk = e.id
WHERE e.organization_id = %s AND e.session_id IS NOT NULL
GROUP BY e.session_id
"""


def _rows(sql: str, *params: Any) -> dict[str, tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {
            row[0]: tuple(int(v) if isinstance(v, Decimal) else v for v in row[1:])
            for row in cursor.fetchall()
        }


def _as_tuples(sessions: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {sid: tuple(row[f] for f in AGGREGATE_FIELDS) for sid, row in sessions.items()}


def recompute(org_id: int) -> dict[str, tuple[Any, ...]]:
    """The suite's oracle (tests/rollup/recompute.py) over the stored events."""
    return _as_tuples(oracle.recompute(org_id))


def stored(org_id: int) -> dict[str, tuple[Any, ...]]:
    return _rows(_STORED, org_id)


def expected_from(events: Iterable[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """The aggregates the generated events must produce, each event_id counted once: the same
    oracle applied to the events as sent, independent of the database."""
    return _as_tuples(oracle.from_api_events(events))


@dataclass
class Comparison:
    sessions_expected: int
    sessions_stored: int
    events_expected: int
    events_counted: int
    lost: int  # expected turns missing from the aggregates
    double_counted: int  # turns in the aggregates beyond the expected ones
    mismatched: dict[str, tuple[Any, Any]]

    @property
    def exact(self) -> bool:
        return not self.mismatched and self.sessions_expected == self.sessions_stored


def compare(expected: dict[str, tuple[Any, ...]], actual: dict[str, tuple[Any, ...]]) -> Comparison:
    lost = double = 0
    mismatched: dict[str, tuple[Any, Any]] = {}
    for sid in expected.keys() | actual.keys():
        want, got = expected.get(sid), actual.get(sid)
        want_turns = want[0] if want else 0
        got_turns = got[0] if got else 0
        lost += max(0, want_turns - got_turns)
        double += max(0, got_turns - want_turns)
        if want != got:
            mismatched[sid] = (want, got)
    return Comparison(
        sessions_expected=len(expected),
        sessions_stored=len(actual),
        events_expected=sum(v[0] for v in expected.values()),
        events_counted=sum(v[0] for v in actual.values()),
        lost=lost,
        double_counted=double,
        mismatched=dict(list(mismatched.items())[:5]),
    )


def assert_folded_invariant(org_id: int) -> None:
    """Aggregates hold exactly the events that are no longer pending: nothing lost or doubled."""
    folded = _rows(_FOLDED, org_id)
    held = {sid: (row[0], row[1]) for sid, row in stored(org_id).items()}
    want = {sid: row for sid, row in folded.items() if row[0] > 0}
    assert held == want, {
        sid: (want.get(sid), held.get(sid))
        for sid in want.keys() | held.keys()
        if want.get(sid) != held.get(sid)
    }


def pending(org_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM ingestion_pendingrollup WHERE organization_id = %s", [org_id]
        )
        return int(cursor.fetchone()[0])


def event_count(org_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ingestion_event WHERE organization_id = %s", [org_id])
        return int(cursor.fetchone()[0])


# --- HTTP -------------------------------------------------------------------------------------


class Api:
    """requests against a live server with one API key; one session per thread."""

    def __init__(self, base_url: str, key: str) -> None:
        self.base_url = base_url
        self.key = key
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["Authorization"] = f"Bearer {self.key}"
        return session

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.get(self.base_url + path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return self.session.post(self.base_url + path, **kwargs)

    def batch(self, events: Sequence[dict[str, Any]]) -> requests.Response:
        return self.post("/v1/events/batch", json={"events": list(events)})


@dataclass
class SendStats:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    new: int = 0
    duplicates: int = 0
    retries: int = 0
    seconds: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def send_batches(
    api: Api,
    chunks: Sequence[Sequence[dict[str, Any]]],
    *,
    threads: int,
    max_tries: int = 8,
    pace: float = 0.0,
) -> SendStats:
    """POST every chunk as a batch from `threads` clients at once, as an SDK would: a 503 or
    429 (or a dropped connection) is retried after its Retry-After, anything else must be a 202.
    Each client waits `pace` seconds after each batch (to spread a soak over time).
    """
    stats = SendStats()
    lock = threading.Lock()

    def send(chunk: Sequence[dict[str, Any]]) -> None:
        for attempt in range(max_tries):
            try:
                response = api.batch(chunk)
            except requests.ConnectionError:
                with lock:
                    stats.retries += 1
                time.sleep(0.2 * (attempt + 1))  # back off, as an SDK does: the behaviour sent
                continue
            with lock:
                stats.requests += 1
                stats.statuses[response.status_code] += 1
            if response.status_code in (429, 503):
                with lock:
                    stats.retries += 1
                # Honour Retry-After (capped), as an SDK does: the behaviour sent.
                time.sleep(min(float(response.headers.get("Retry-After", "1")), 2.0))
                continue
            assert response.status_code == 202, (response.status_code, response.text[:500])
            body = response.json()
            with lock:
                stats.new += body["accepted"] - body["duplicates"]
                stats.duplicates += body["duplicates"]
            time.sleep(pace)  # spreads the load over time on purpose
            return
        raise AssertionError(f"batch not accepted after {max_tries} tries")

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(send, chunk) for chunk in chunks]:
            future.result()
    stats.seconds = time.monotonic() - started
    return stats


def session_counts(statuses: Iterable[int]) -> dict[int, int]:
    return dict(sorted(Counter(statuses).items()))


def by_session(events: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if "session_id" in e:
            grouped[e["session_id"]].append(e)
    return grouped
