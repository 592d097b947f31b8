"""A fixed rollup scenario for a fresh database of any dialect: `python -m tests.rollup.scenario`.

Run in a process of its own (DATABASE_URL pointing at an empty database, REDIS_URL empty) by
test_rollup_sqlite.py and test_rollup_collation.py: migrates, ingests the same out-of-order,
duplicated, tagged batches into four organizations, rolled up four ways, and prints
{variant: {"snapshot", "recompute", "pending"}} as JSON. The events and the expected
result are in scenario_data.py.
"""

import json
from io import StringIO
from typing import Any

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from infraprism.services import organization_create  # noqa: E402
from sessions.services import session_rollup_drain  # noqa: E402
from tests.rollup.helpers import ingest, pending  # noqa: E402
from tests.rollup.recompute import as_json, recompute, snapshot  # noqa: E402
from tests.rollup.scenario_data import BATCH_1, BATCH_2, BATCH_3  # noqa: E402


def report(org_id: int) -> dict[str, Any]:
    return {
        "snapshot": as_json(snapshot(org_id)),
        "recompute": as_json(recompute(org_id)),
        "pending": pending(org_id),
    }


def main() -> None:
    call_command("migrate", verbosity=0)
    batches = [BATCH_1, BATCH_2, BATCH_3]
    out: dict[str, Any] = {}

    # Embedded default: each ingest rolls up in-process once it commits.
    assert settings.ROLLUP_IN_PROCESS
    embedded = organization_create(slug="embedded", name="Embedded")
    for batch in batches:
        ingest(embedded.pk, batch)
        assert pending(embedded.pk) == 0
    out["embedded"] = report(embedded.pk)

    # Everything pending, then folded one event per chunk, seven per chunk, or by the command.
    settings.ROLLUP_IN_PROCESS = False
    for slug, fold in (
        ("limit-1", lambda pk: session_rollup_drain(organization_id=pk, limit=1)),
        ("limit-7", lambda pk: session_rollup_drain(organization_id=pk, limit=7)),
        ("command", lambda pk: call_command("rollup", stdout=StringIO())),
    ):
        org = organization_create(slug=slug, name=slug)
        for batch in batches:
            ingest(org.pk, batch)
        out[f"{slug}-before"] = pending(org.pk)
        fold(org.pk)
        out[slug] = report(org.pk)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
