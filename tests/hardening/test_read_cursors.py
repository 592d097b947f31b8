"""Issue 10, items 8 and 9: cursors are signed and bound to their organization, endpoint,
ordering and filters, carry no global row id, and a walk by session_id while calls keep
arriving neither skips nor repeats a session; CSV is the whole filtered result."""

import base64
import json
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core import signing

from analytics.pagination import CursorCodec
from sessions.models import Session
from tests.analytics.engines import ENGINES, Answers, run_task
from tests.analytics.helpers import COSTS, EVENTS, SESSIONS, assert_param_error, csv_table, get_ok
from tests.factories import event


def _seed(client: Any, rollup: Callable[[], Any], count: int = 12, prefix: str = "s") -> None:
    events = [
        event(f"{prefix}-{i}", timestamp=f"2025-01-{1 + i % 20:02d}T10:00:00Z",
              provider="openai", session_id=f"{prefix}-{i:03d}",
              entity_type="customer" if i % 2 else "team", entity_id=f"c{i % 3}",
              cost=0.01 * (1 + i % 4), tags={"feature": f"f{i % 2}"})
        for i in range(count)
    ]  # fmt: skip
    for start in range(0, count, 1000):
        response = client.post_json("/v1/events/batch", {"events": events[start : start + 1000]})
        assert response.status_code == 202, response.content
    rollup()


def _cursor(client: Any, path: str, params: dict[str, Any]) -> str:
    cursor = get_ok(client, path, {**params, "limit": 2})["pagination"]["next_cursor"]
    assert isinstance(cursor, str)
    return cursor


def _payload(cursor: str) -> Any:
    """What anyone can read from a cursor without the secret key: its signed payload."""
    encoded = cursor.split(":")[0]
    compressed = encoded.startswith(".")
    raw = base64.urlsafe_b64decode(encoded.lstrip(".") + "=" * (-len(encoded.lstrip(".")) % 4))
    return json.loads(zlib.decompress(raw) if compressed else raw)


def test_a_cursor_is_bound_to_its_filters_ordering_endpoint_and_organization(
    client: Any, other_client: Any, rollup: Callable[[], Any]
) -> None:
    _seed(client, rollup)
    _seed(other_client, rollup)
    cursor = _cursor(client, SESSIONS, {"entity_type": "customer"})
    assert len(get_ok(client, SESSIONS, {"entity_type": "customer", "cursor": cursor})["data"])
    misuses = [
        (client, SESSIONS, {"entity_type": "team"}),
        (client, SESSIONS, {}),
        (client, SESSIONS, {"entity_type": "customer", "tag": "feature:f1"}),
        (client, SESSIONS, {"entity_type": "customer", "order_by": "-first_seen"}),
        (client, SESSIONS, {"entity_type": "customer", "tz": "Europe/Paris"}),
        (client, EVENTS, {"entity_type": "customer"}),
        (other_client, SESSIONS, {"entity_type": "customer"}),
    ]
    for who, path, params in misuses:
        assert_param_error(who.get(path, {**params, "cursor": cursor}), "cursor")
    # The same question asked in other words is the same question.
    same = {"entity_type": "customer", "start_date": "2024-01-01", "end_date": "2030-12-31"}
    bounded = _cursor(client, SESSIONS, same)
    equal = {**same, "start_date": "2024-01-01T00:00:00Z", "limit": 5, "cursor": bounded}
    assert get_ok(client, SESSIONS, equal)["data"]

    costs = _cursor(client, COSTS, {"group_by": "session"})
    assert get_ok(client, COSTS, {"group_by": "session", "cursor": costs})["data"]
    assert_param_error(client.get(COSTS, {"group_by": "model", "cursor": costs}), "cursor")
    assert_param_error(
        client.get(COSTS, {"group_by": "session", "model": "x", "cursor": costs}), "cursor"
    )
    assert_param_error(other_client.get(COSTS, {"group_by": "session", "cursor": costs}), "cursor")


def test_a_tampered_cursor_is_refused(client: Any, rollup: Callable[[], Any]) -> None:
    _seed(client, rollup)
    cursor = _cursor(client, SESSIONS, {})
    for forged in (cursor[:-1] + ("A" if cursor[-1] != "A" else "B"), cursor + "x", "abc"):
        assert_param_error(client.get(SESSIONS, {"cursor": forged}), "cursor")


def test_cursors_hold_no_global_row_id(client: Any, rollup: Callable[[], Any]) -> None:
    _seed(client, rollup)
    row_ids = {str(pk) for pk in Session.objects.values_list("id", flat=True)}
    for path, params in ((SESSIONS, {}), (SESSIONS, {"order_by": "total_cost"}), (EVENTS, {})):
        payload = _payload(_cursor(client, path, params))
        assert set(payload) == {"s", "p"}, payload
        assert set(payload["p"]) == {"v", "k"}, payload
        assert str(payload["p"]["k"]) not in row_ids and payload["p"]["k"].startswith("s-")


def test_timeline_cursor_with_a_step_before_the_start_is_refused(
    client: Any, rollup: Callable[[], Any]
) -> None:
    events = [
        event(f"t-{i}", timestamp=f"2025-01-02T10:00:0{i}Z", session_id="tl", cost=0.1)
        for i in range(5)
    ]  # fmt: skip
    assert client.post_json("/v1/events/batch", {"events": events}).status_code == 202
    rollup()
    path = f"{SESSIONS}/tl/timeline"
    cursor = get_ok(client, path, {"limit": 2})["pagination"]["next_cursor"]
    assert [s["step"] for s in get_ok(client, path, {"limit": 2, "cursor": cursor})["data"][
        "steps"]] == [3, 4]  # fmt: skip
    # Even a correctly signed cursor (as if the key leaked) cannot point before step 1.
    codec = CursorCodec(organization=client.organization, endpoint="timeline:tl",
                        binding="|timestamp")  # fmt: skip
    for step in (-1, 0, "2", 2.5, None):
        forged = codec.encode({"step": step})
        assert_param_error(client.get(path, {"cursor": forged}), "cursor")
    # A timeline cursor does not page the session's calls.
    assert_param_error(client.get(f"{SESSIONS}/tl", {"cursor": cursor}), "cursor")


def test_the_signature_uses_the_secret_key(client: Any, rollup: Callable[[], Any]) -> None:
    _seed(client, rollup)
    cursor = _cursor(client, SESSIONS, {})
    salt = "infraprism.analytics.cursor"
    assert set(signing.loads(cursor, salt=salt)) == {"s", "p"}  # signed with SECRET_KEY
    with pytest.raises(signing.BadSignature):
        signing.loads(cursor, key="not-the-secret", salt=salt)


# --- item 9: a complete walk while calls keep arriving -----------------------------------


def test_a_walk_by_session_id_while_calls_arrive_neither_skips_nor_repeats(
    client: Any, rollup: Callable[[], Any]
) -> None:
    _seed(client, rollup, count=40, prefix="w")
    before = set(Session.objects.values_list("session_id", flat=True))
    seen: list[str] = []
    params: dict[str, Any] = {"order_by": "session_id", "limit": 7}
    for page_number in range(100):
        body = get_ok(client, SESSIONS, params)
        seen += [s["session_id"] for s in body["data"]]
        # Between pages: new calls for sessions already seen and not yet seen, and new
        # sessions sorting before and after the walk's position.
        events = [
            event(f"more-{page_number}-{n}", timestamp=f"2025-03-{1 + n:02d}T10:00:00Z",
                  session_id=sid, cost=5)
            for n, sid in enumerate(
                [f"w-{(page_number * 11) % 40:03d}", f"w-{(page_number * 7 + 3) % 40:03d}",
                 f"a-new-{page_number}", f"z-new-{page_number}"]
            )
        ]  # fmt: skip
        assert client.post_json("/v1/events/batch", {"events": events}).status_code == 202
        rollup()
        if not body["pagination"]["has_more"]:
            break
        params["cursor"] = body["pagination"]["next_cursor"]
    assert len(seen) == len(set(seen)), "a session was served twice"
    assert before <= set(seen), f"skipped: {sorted(before - set(seen))}"
    assert seen == sorted(seen)


def test_descending_session_id_walk(client: Any, rollup: Callable[[], Any]) -> None:
    _seed(client, rollup, count=9)
    seen: list[str] = []
    params: dict[str, Any] = {"order_by": "-session_id", "limit": 4}
    while True:
        body = get_ok(client, SESSIONS, params)
        seen += [s["session_id"] for s in body["data"]]
        if not body["pagination"]["has_more"]:
            break
        params["cursor"] = body["pagination"]["next_cursor"]
    assert seen == sorted(seen, reverse=True) and len(seen) == 9


def test_csv_is_the_whole_filtered_result_in_one_streamed_response(
    client: Any, rollup: Callable[[], Any]
) -> None:
    _seed(client, rollup, count=1205)
    response = client.get(SESSIONS, {"format": "csv", "entity_type": "customer"})
    assert response.streaming
    _, rows = csv_table(response)
    assert len(rows) == 602 and {r["entity_type"] for r in rows} == {"customer"}
    costs = client.get(COSTS, {"format": "csv", "group_by": "session"})
    assert costs.streaming
    assert len(csv_table(costs)[1]) == 1205


# --- both engines: keyset pages over ties ---------------------------------------------------

TIED = [
    event(f"k-{i}", timestamp="2025-01-02T10:00:00Z", session_id=f"k-{(i * 7) % 10}", cost=0.5)
    for i in range(10)
]  # fmt: skip


@pytest.fixture(params=ENGINES)
def tied_walks(request: pytest.FixtureRequest, tmp_path: Path, db: None) -> Answers:
    pages = [
        [f"sessions {order}", "acme", SESSIONS, {"order_by": order, "limit": 3}]
        for order in ("-last_seen", "first_seen", "total_cost", "-turn_count", "session_id")
    ] + [["events", "acme", EVENTS, {"limit": 3}]]
    task = {"organizations": {"acme": [TIED]}, "pages": pages}
    return Answers(run_task(request.param, task, request, tmp_path))


def test_pages_over_tied_sort_values_follow_the_unique_key(tied_walks: Answers) -> None:
    for name, walk in tied_walks.out["pages"].items():
        ids = []
        for status, text in walk:
            assert status == 200, text
            key = "event_id" if name == "events" else "session_id"
            ids += [row[key] for row in json.loads(text)["data"]]
        descending = name == "events" or name.endswith("-turn_count") or "-last" in name
        expected = sorted(ids, reverse=descending)
        assert ids == expected and len(ids) == 10, (name, ids)
