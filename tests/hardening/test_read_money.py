"""Issue 10, item 5: money is a JSON number with exactly the stored digits on every endpoint,
never through a float; averages are rounded half-even to the nano-dollar; totals above
USD 10,000,000,000 (more than 2^63 nano-dollars) are exact everywhere, on both engines.

Bodies are read with parse_float=Decimal, so a float on the way would show as a wrong digit.
"""

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.analytics.engines import ENGINES, Answers, exact_json, run_task
from tests.analytics.helpers import COSTS, EVENTS, METRICS, SESSIONS
from tests.factories import event

MILLIONS = Decimal("8400000.000000001")  # 8 x 1,000,000 + 400,000.000000001
# Ingestion takes at most USD 1,000,000 for one call: 10,000 such calls and one nano-dollar
# make a session of more than 2^63 nano-dollars (about USD 9,223,372,036.85).
BILLIONS = Decimal("10000000000.000000001")


def _calls(prefix: str, session_id: str, costs: list[str]) -> list[dict[str, Any]]:
    return [
        event(f"{prefix}-{i}", timestamp=f"2025-01-02T{10 + i // 3600:02d}:"
              f"{i // 60 % 60:02d}:{i % 60:02d}Z",
              provider="openai", session_id=session_id, entity_type="customer",
              entity_id=prefix[0], tags={"feature": prefix[0]}, cost=Decimal(cost))
        for i, cost in enumerate(costs)
    ]  # fmt: skip


ORGANIZATIONS = {
    "millions": [_calls("m", "big", ["1000000"] * 8 + ["400000.000000001"])],
    "billions": [_calls(f"b{n}", "huge", ["1000000"] * 1000) for n in range(10)]
    + [_calls("bn", "huge", ["0.000000001"])],
    # Two sessions of 1 and 2 nano-dollars: the average, 1.5, rounds half-even to 2.
    "average": [_calls("a1", "one", ["0.000000001"]) + _calls("a2", "two", ["0.000000002"])],
}


def _requests(slug: str, session_id: str) -> list[list[Any]]:
    detail = f"{SESSIONS}/{session_id}"
    return [
        [f"{slug} list", slug, SESSIONS, {}],
        [f"{slug} list csv", slug, SESSIONS, {"format": "csv"}],
        [f"{slug} detail", slug, detail, {}],
        [f"{slug} timeline", slug, f"{detail}/timeline", {}],
        [f"{slug} metrics", slug, METRICS, {"interval": "day"}],
        [f"{slug} events", slug, EVENTS, {}],
        *[
            [f"{slug} costs {group}", slug, COSTS, {"group_by": group}]
            for group in (
                "entity",
                "entity_type",
                "model",
                "provider",
                "session",
                "day",
                "tag:feature",
            )
        ],
        [f"{slug} costs csv", slug, COSTS, {"group_by": "session", "format": "csv"}],
    ]


def _task() -> dict[str, Any]:
    return {
        "organizations": {
            slug: [_raw_batch(batch) for batch in batches]
            for slug, batches in ORGANIZATIONS.items()
        },
        "requests": _requests("millions", "big")
        + _requests("billions", "huge")
        + [["average metrics", "average", METRICS, {"interval": "day"}]],
        "pages": [["billions timeline", "billions", f"{SESSIONS}/huge/timeline", {}]],
    }


def _raw_batch(events: list[dict[str, Any]]) -> str:
    """The batch body as JSON text whose costs are numbers with all their digits (a float
    would drop some before the server sees them)."""
    marked = [{**e, "cost": f"@@{e['cost']}@@"} for e in events]
    return json.dumps({"events": marked}).replace('"@@', "").replace('@@"', "")


@pytest.fixture(params=ENGINES)
def answers(request: pytest.FixtureRequest, tmp_path: Path, db: None) -> Answers:
    return Answers(run_task(request.param, _task(), request, tmp_path))


def _amounts(answers: Answers, slug: str) -> dict[str, list[Decimal]]:
    """Every money value each endpoint answered for the organization's one session."""
    found: dict[str, list[Decimal]] = {}
    session = answers.body(f"{slug} list")["data"][0]
    found["list total_cost"] = [session["total_cost"]]
    detail = answers.body(f"{slug} detail")["data"]
    found["detail total_cost"] = [detail["total_cost"]]
    steps = answers.body(f"{slug} timeline")["data"]["steps"]
    if f"{slug} timeline" in answers.out["pages"]:  # more calls than one page
        last_page = answers.out["pages"][f"{slug} timeline"][-1][1]
        steps = exact_json(last_page)["data"]["steps"]
    else:
        found["detail calls sum"] = [sum(c["cost"] for c in detail["calls"])]
        found["events sum"] = [sum(e["cost"] for e in answers.body(f"{slug} events")["data"])]
    found["timeline cumulative_cost"] = [steps[-1]["cumulative_cost"]]
    metrics = answers.body(f"{slug} metrics")["data"]
    found["metrics"] = [
        metrics[k]
        for k in ("total_cost", "avg_cost_per_session", "median_cost", "p95_cost", "max_cost")
    ]
    found["metrics series"] = [
        metrics["series"][0]["total_cost"],
        metrics["series"][0]["avg_cost_per_session"],
    ]
    for name in answers.out["answers"]:
        if name.startswith(f"{slug} costs ") and not name.endswith("csv"):
            found[name] = [g["total_cost"] for g in answers.body(name)["data"]]
    for name in (f"{slug} list csv", f"{slug} costs csv"):
        rows = list(csv.DictReader(io.StringIO(answers.text(name))))
        found[name] = [Decimal(rows[0]["total_cost"])]
    return found


@pytest.mark.parametrize(("slug", "total"), [("millions", MILLIONS), ("billions", BILLIONS)])
def test_money_is_exact_on_every_endpoint(answers: Answers, slug: str, total: Decimal) -> None:
    wrong = {
        where: values
        for where, values in _amounts(answers, slug).items()
        if any(value != total for value in values)
    }
    assert not wrong, f"expected {total} everywhere; got {wrong}"


def test_money_is_written_as_a_json_number_with_its_digits(answers: Answers) -> None:
    text = answers.out["answers"]["millions detail"][2]
    assert '"total_cost":8400000.000000001' in text.replace(" ", "")


def test_averages_are_rounded_half_even_to_the_nano_dollar(answers: Answers) -> None:
    metrics = answers.body("average metrics")["data"]
    assert metrics["total_cost"] == Decimal("0.000000003")
    assert metrics["avg_cost_per_session"] == Decimal("0.000000002")  # 1.5 nanos, to even
    assert metrics["series"][0]["avg_cost_per_session"] == Decimal("0.000000002")
