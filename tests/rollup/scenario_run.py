"""Run scenario.py against a given database in a child process and check what it prints."""

import json
import os
import subprocess
import sys
from typing import Any

from django.conf import settings

from tests.rollup.scenario_data import EXPECTED

VARIANTS = ("embedded", "limit-1", "limit-7", "command")


def scenario_run(database_url: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        DJANGO_SETTINGS_MODULE="infraprism.settings", DATABASE_URL=database_url, REDIS_URL=""
    )
    env.pop("ROLLUP_IN_PROCESS", None)  # the embedded default: on, as REDIS_URL is empty
    done = subprocess.run(
        [sys.executable, "-m", "tests.rollup.scenario"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def assert_scenario_result(result: dict[str, Any]) -> None:
    for variant in VARIANTS:
        outcome = result[variant]
        assert outcome["pending"] == 0, variant
        stored, recomputed = outcome["snapshot"], outcome["recompute"]
        assert set(stored) == set(recomputed) == set(EXPECTED), variant
        for session_id, expected in EXPECTED.items():
            assert stored[session_id] == recomputed[session_id], f"{variant} {session_id}"
            assert stored[session_id] == expected, f"{variant} {session_id}"
    for variant in VARIANTS[1:]:
        # Queued: 2 + 3 + 2 new events with a session, and e3 (sessionless: the daily cost
        # table only); nothing for duplicates.
        assert result[f"{variant}-before"] == 8, variant
