"""Run a rollup scenario on either engine: PostgreSQL in this process, the embedded SQLite
default in a child process (rollup_embedded.py). Tests parametrize over ENGINES."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.hardening.rollup_api import Request, scenario_answers

ENGINES = ["postgresql", "sqlite"]


def run_scenario(
    engine: str,
    batches: list[list[dict[str, Any]]],
    requests: list[Request],
    pytest_request: pytest.FixtureRequest,
    tmp_path: Path,
) -> dict[str, Any]:
    if engine == "postgresql":
        client = pytest_request.getfixturevalue("client")
        return scenario_answers(client, batches, requests)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("ROLLUP_IN_PROCESS", None)  # the embedded default: on, as REDIS_URL is empty
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'embedded.sqlite3'}",
        REDIS_URL="",
        DJANGO_SETTINGS_MODULE="infraprism.settings",
        INGEST_RATE_LIMIT="off",
        READ_RATE_LIMIT="off",
    )
    done = subprocess.run(
        [sys.executable, "-m", "tests.hardening.rollup_embedded"],
        input=json.dumps({"batches": batches, "requests": requests}),
        env=env,
        cwd=Path(settings.BASE_DIR),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
