"""Re-pricing against a rollup chunk in flight (PostgreSQL, a rollup in another process).

The chunk holds some queue rows (claimed, not yet committed). A re-pricing run must wait for
it: when the chunk commits, those events are folded and their difference goes to the
aggregates; when the chunk's process dies, they are pending again and carry the new cost.
Either way every aggregate ends equal to a recomputation, each difference counted once.
"""

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from infraprism.models import Organization
from sessions.reprice import reprice
from sessions.services import session_rollup_drain
from tests.factories import event
from tests.reliability import procs
from tests.reliability.procs import Child
from tests.reprice.test_reprice import T0, cheaper_prices, expected_costs, stored_costs
from tests.rollup.helpers import database_url_for_subprocess, ingest, pending
from tests.rollup.recompute import (
    recompute,
    recompute_daily,
    recompute_daily_tags,
    snapshot,
    snapshot_daily,
    snapshot_daily_tags,
)
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]

CHILDREN = "tests.rollup.children"


@pytest.fixture(autouse=True)
def _no_scheduling(settings: Any) -> None:
    settings.ROLLUP_IN_PROCESS = False
    settings.REDIS_URL = ""


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.stop()


def lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        (count,) = cursor.fetchone()
    return int(count)


@pytest.mark.parametrize("chunk_ends", ["commits", "dies"])
def test_reprice_waits_for_a_chunk_in_flight_and_ends_exact(
    org: Organization, children: list[Child], chunk_ends: str
) -> None:
    ingest(org.pk, [
        event(f"e{i}", model="gpt-4o", timestamp=T0.isoformat(), input_tokens=1000 + i,
              output_tokens=10 * i, session_id=f"s{i % 7}",
              tags={"team": f"t{i % 3}"} if i % 4 else {},
              **({"entity_type": "customer", "entity_id": "c"} if i % 2 else {}))
        for i in range(60)
    ])  # fmt: skip
    session_rollup_drain(organization_id=org.pk, limit=20, max_chunks=1)  # some folded
    cheaper_prices(org)
    env = procs.service_env(database_url_for_subprocess(), "")
    holder = Child.module(CHILDREN, "hold-then-commit", str(org.pk), "25", env=env, stdin=True)
    children.append(holder)
    assert holder.wait_for("^claimed ", timeout=30).split()[1] == "25"

    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["changed"] = reprice(organization_id=org.pk).events_changed
        except BaseException as exc:  # surfaced below
            result["error"] = exc
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    try:
        wait_until(lambda: lock_waiters() >= 1, timeout=15, interval=0.05,
                   what="re-pricing to wait for the chunk's queue rows")  # fmt: skip
        assert worker.is_alive()
        if chunk_ends == "commits":
            holder.send("go\n")
            holder.wait_for("^committed", timeout=30)
        else:
            holder.kill()
    finally:
        worker.join(timeout=60)
    assert not worker.is_alive()
    assert "error" not in result, result
    assert result["changed"] == 60
    assert pending(org.pk) == (15 if chunk_ends == "commits" else 40)
    assert stored_costs(org) == expected_costs(org)
    session_rollup_drain(organization_id=org.pk)
    assert pending(org.pk) == 0
    assert snapshot(org.pk) == recompute(org.pk)
    assert snapshot_daily(org.pk) == recompute_daily(org.pk)
    assert snapshot_daily_tags(org.pk) == recompute_daily_tags(org.pk)
