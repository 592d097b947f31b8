"""The pages read what the API reads: same rows, same numbers, same CSV; any session id
round-trips; bad filters are a 400 naming the parameter; an empty organization is told how
to send its first event."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from django.test import Client

from dashboard.templatetags.dash_format import session_url
from infraprism.models import Organization
from tests.analytics.helpers import ingest
from tests.factories import event
from tests.guide_traffic import AGENT_SESSION, CHATBOT_SESSION, agent_calls, chatbot_calls

# Ids ingestion accepts that are awkward in a URL path.
AWKWARD_IDS = [
    "a/b/c",
    "50%off",
    "why?really",
    "issue#12",
    "with space",
    "ünïcødé/会话",
    "trailing/",
    "/leading",
    "..",
    ".",
    "a/../b",
    "%2F",
]


@pytest.fixture
def seeded(
    org: Organization, client: Any, rollup: Callable[[], Any], make_member: Callable[..., Any]
) -> Any:
    ingest(client, chatbot_calls() + agent_calls())
    rollup()
    return client


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_any_session_id_round_trips_in_the_page_url(
    org: Organization,
    client: Any,
    rollup: Callable[[], Any],
    make_member: Callable[..., Any],
    signed_in: Callable[[Any], Client],
) -> None:
    ingest(
        client,
        [event(timestamp="2025-01-01T00:00:00Z", session_id=sid, cost=0.5) for sid in AWKWARD_IDS],
    )
    rollup()
    page = signed_in(make_member(org))
    for sid in AWKWARD_IDS:
        url = session_url(org.slug, sid)
        # Browsers resolve `.` and `..` path segments (also as %2e) before sending: none may
        # appear, or the request would reach another page (the browser test follows one).
        segments = {s.lower().replace("%2e", ".") for s in urlsplit(url).path.split("/")}
        assert not segments & {".", ".."}, (sid, url)
        response = page.get(url)
        assert response.status_code == 200, (sid, url)
        assert response.context["session"]["session_id"] == sid
    listing = page.get(f"/o/{org.slug}/sessions/").content.decode()
    for sid in AWKWARD_IDS:
        assert session_url(org.slug, sid).replace("&", "&amp;") in listing, sid
    # Percent-encoding the whole id is what makes it work: the raw '/' would not.
    assert page.get(f"/o/{org.slug}/sessions/{quote('nope/x', safe='')}/").status_code == 404


def test_session_list_shows_the_guides_sessions_and_filters_them(
    seeded: Any,
    org: Organization,
    make_member: Callable[..., Any],
    signed_in: Callable[[Any], Client],
) -> None:
    page = signed_in(make_member(org))
    rows = page.get(f"/o/{org.slug}/sessions/").context["page"].rows
    assert {r["session_id"] for r in rows} == {CHATBOT_SESSION, AGENT_SESSION}
    by_cost = page.get(f"/o/{org.slug}/sessions/", {"order_by": "-total_cost"}).context["page"]
    costs = [r["total_cost_nanos"] for r in by_cost.rows]
    assert costs == sorted(costs, reverse=True)
    agent_only = page.get(
        f"/o/{org.slug}/sessions/",
        {"tag": ["feature:agent", ""], "entity_id": "", "min_turns": "4"},
    )
    assert [r["session_id"] for r in agent_only.context["page"].rows] == [AGENT_SESSION]


def test_cursor_pages_walk_every_session_once(
    org: Organization,
    client: Any,
    rollup: Callable[[], Any],
    make_member: Callable[..., Any],
    signed_in: Callable[[Any], Client],
) -> None:
    ingest(
        client,
        [
            event(
                timestamp=f"2025-02-01T00:{i // 60:02d}:{i % 60:02d}Z",
                session_id=f"s-{i}",
                cost=0.01,
            )
            for i in range(120)
        ],
    )
    rollup()
    page = signed_in(make_member(org))
    seen: list[str] = []
    params: dict[str, str] = {"order_by": "-turn_count"}
    while True:
        response = page.get(f"/o/{org.slug}/sessions/", params)
        assert response.status_code == 200
        current = response.context["page"]
        seen += [r["session_id"] for r in current.rows]
        if not current.next_cursor:
            break
        params["cursor"] = current.next_cursor
    assert sorted(seen) == sorted(f"s-{i}" for i in range(120))
    # A cursor is bound to its ordering: reused with another it is a 400, never a 500.
    other = page.get(f"/o/{org.slug}/sessions/", {**params, "order_by": "last_seen"})
    assert other.status_code == 400 and "cursor" in other.context["errors"]


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"min_cost": "lots"}, "min_cost"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"start_date": "2025-13-45"}, "start_date"),
        ({"tag": "no-colon"}, "tag"),
        ({"order_by": "price"}, "order_by"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(
    params: dict[str, str],
    name: str,
    org: Organization,
    make_member: Callable[..., Any],
    signed_in: Callable[[Any], Client],
) -> None:
    page = signed_in(make_member(org))
    paths = [f"/o/{org.slug}/sessions/"]
    if name != "cursor":  # a download is never paged
        paths.append(f"/o/{org.slug}/sessions.csv")
    if name not in ("order_by", "cursor"):
        paths.append(f"/o/{org.slug}/metrics/")
    if name in ("tz", "start_date", "tag"):  # the filters that calls have too
        paths += [f"/o/{org.slug}/costs/", f"/o/{org.slug}/costs.csv"]
    for path in paths:
        response = page.get(path, params)
        assert response.status_code == 400, (path, response.status_code)
        assert name in response.context["errors"], (path, response.context["errors"])


def test_csv_downloads_equal_the_apis_csv(
    seeded: Any,
    org: Organization,
    make_member: Callable[..., Any],
    signed_in: Callable[[Any], Client],
) -> None:
    page = signed_in(make_member(org))
    for params in ({}, {"tag": "feature:chatbot", "order_by": "-total_cost"}, {"entity_id": "x"}):
        mine = page.get(f"/o/{org.slug}/sessions.csv", params)
        api = seeded.get("/v1/analytics/sessions", {**params, "format": "csv"})
        assert mine.status_code == api.status_code == 200
        assert mine["Content-Type"] == api["Content-Type"]
        assert _body(mine) == _body(api), params
    for group in ("entity", "model", "day", "tag:feature"):
        form = (
            {"group_by": "tag", "tag_key": "feature"}
            if group == "tag:feature"
            else {"group_by": group}
        )
        mine_csv = _body(page.get(f"/o/{org.slug}/costs.csv", form))
        api_csv = _body(seeded.get("/v1/analytics/costs", {"group_by": group, "format": "csv"}))
        assert mine_csv == api_csv, group
        assert len(mine_csv.splitlines()) > 1


def test_metrics_page_shows_the_apis_numbers(
    seeded: Any,
    org: Organization,
    make_member: Callable[..., Any],
    signed_in: Callable[[Any], Client],
) -> None:
    page = signed_in(make_member(org))
    for params in ({}, {"tag": "feature:agent"}, {"start_date": "2025-03-05", "tz": "Asia/Tokyo"}):
        shown = page.get(f"/o/{org.slug}/metrics/", params)
        api = seeded.get("/v1/analytics/session-metrics", {**params, "interval": "day"}).json()
        assert shown.status_code == 200
        metrics = shown.context["metrics"]
        for name, value in api["data"].items():
            if name == "series":
                assert [d["date"].isoformat() for d in metrics["series"]] == [
                    d["date"] for d in value
                ]
            else:
                assert Decimal(str(metrics[name])) == Decimal(str(value)), name
        html = shown.content.decode()
        assert f'data-usd="{metrics["total_cost"].normalize():f}"' in html
        histograms = page.get(shown.context["histograms_url"]).context["histograms"]
        assert sum(b["count"] for b in histograms["cost"]) == api["data"]["session_count"]
        assert sum(b["count"] for b in histograms["turns"]) == api["data"]["session_count"]


def test_session_page_lists_the_calls_and_the_timeline(
    seeded: Any,
    org: Organization,
    make_member: Callable[..., Any],
    signed_in: Callable[[Any], Client],
) -> None:
    page = signed_in(make_member(org))
    response = page.get(session_url(org.slug, AGENT_SESSION))
    api = seeded.get(f"/v1/analytics/sessions/{quote(AGENT_SESSION, safe='')}").json()["data"]
    assert [c["event_id"] for c in response.context["page"].rows] == [
        c["event_id"] for c in api["calls"]
    ]
    timeline = response.context["timeline"]
    assert [s["step"] for s in timeline] == list(range(1, len(api["calls"]) + 1))
    assert timeline[-1]["cumulative_exact"] == f"{Decimal(str(api['total_cost'])).normalize():f}"
    html = response.content.decode()
    assert 'id="timeline-data" type="application/json"' in html
    assert html.count('<tr data-event-id="') == len(api["calls"])


def test_an_organization_without_events_sees_how_to_send_one(
    org: Organization, make_member: Callable[..., Any], signed_in: Callable[[Any], Client]
) -> None:
    page = signed_in(make_member(org, "owner"))
    for path in ("sessions", "metrics", "costs"):
        html = page.get(f"/o/{org.slug}/{path}/").content.decode()
        assert 'data-testid="onboarding"' in html, path
        assert "curl -X POST http://testserver/v1/events" in html
        assert "InfraPrismOpenAI()" in html
    # With a filter that matches nothing, the table's empty state shows instead.
    filtered = page.get(f"/o/{org.slug}/sessions/", {"model": "gpt-4o"}).content.decode()
    assert 'data-testid="onboarding"' not in filtered and "No sessions match" in filtered


def test_histograms_count_each_session_once_in_the_right_bucket(
    org: Organization,
    client: Any,
    rollup: Callable[[], Any],
    make_member: Callable[..., Any],
    signed_in: Callable[[Any], Client],
) -> None:
    # 40 sessions of 1..40 turns, costs from 0.001 to 0.04 USD; then one giant session.
    calls = []
    for n in range(1, 41):
        for turn in range(n):
            calls.append(
                event(timestamp=f"2025-04-01T10:{turn:02d}:00Z", session_id=f"h-{n}", cost=0.001)
            )
    calls += [
        event(timestamp=f"2025-04-01T11:{t // 60:02d}:{t % 60:02d}Z", session_id="giant", cost=5)
        for t in range(500)
    ]
    ingest(client, calls)
    rollup()
    page = signed_in(make_member(org))
    url = page.get(f"/o/{org.slug}/metrics/").context["histograms_url"]
    histograms = page.get(url).context["histograms"]
    sessions = client.get("/v1/analytics/sessions", {"limit": 1000}).json()["data"]
    assert len(sessions) == 41
    for name, value_of in (
        ("cost", lambda s: Decimal(str(s["total_cost"]))),
        ("turns", lambda s: s["turn_count"]),
    ):
        buckets = histograms[name]
        assert sum(b["count"] for b in buckets) == 41
        assert buckets[-1]["high"] is None and buckets[-1]["count"] >= 1  # the giant
        for bucket in buckets:
            low = Decimal(str(bucket["low"])) if name == "cost" else bucket["low"]
            high = bucket["high"]
            if high is not None and name == "cost":
                high = Decimal(str(high))
            expected = sum(
                1 for s in sessions if low <= value_of(s) and (high is None or value_of(s) < high)
            )
            assert bucket["count"] == expected, (name, bucket)


@pytest.mark.parametrize("bad", [{"p95_cost": "lots"}, {"p95_turns": "-1"}, {"p95_cost": "nan"}])
def test_histogram_edges_must_be_numbers(
    bad: dict[str, str],
    org: Organization,
    make_member: Callable[..., Any],
    signed_in: Callable[[Any], Client],
) -> None:
    page = signed_in(make_member(org))
    params = {"p95_cost": "0.5", "p95_turns": "3", **bad}
    response = page.get(f"/o/{org.slug}/metrics/histograms/", params)
    assert response.status_code == 400
    assert set(bad) <= set(response.context["errors"])


def test_session_times_read_in_the_chosen_time_zone(
    seeded: Any,
    org: Organization,
    make_member: Callable[..., Any],
    signed_in: Callable[[Any], Client],
) -> None:
    page = signed_in(make_member(org))
    utc = page.get(f"/o/{org.slug}/sessions/", {"tag": "feature:chatbot"}).content.decode()
    assert "First seen (UTC)" in utc and "2025-03-04 09:00:00" in utc
    tokyo = page.get(
        f"/o/{org.slug}/sessions/", {"tag": "feature:chatbot", "tz": "Asia/Tokyo"}
    ).content.decode()
    assert "First seen (Asia/Tokyo)" in tokyo and "2025-03-04 18:00:00" in tokyo
