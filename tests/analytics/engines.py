"""Run one task (organizations' event batches, then requests) on either engine and get the
answers in one shape: PostgreSQL in this process, the embedded SQLite default in a subprocess
(tests/analytics/embedded_app.py). Tests of rules that hold "on every engine" parametrize over
ENGINES and compare the answers with the expected ones, or with each other.
"""

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.analytics import embedded_app

ENGINES = ["postgresql", "sqlite"]


def run_embedded(task: dict[str, Any], database: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "ROLLUP_IN_PROCESS")}
    env.update(
        DATABASE_URL=f"sqlite:///{database}",
        DJANGO_SETTINGS_MODULE="infraprism.settings",
        INGEST_RATE_LIMIT="off",
        READ_RATE_LIMIT="off",
    )
    done = subprocess.run(
        [sys.executable, "-m", "tests.analytics.embedded_app"],
        input=json.dumps(task),
        env=env,
        cwd=Path(settings.BASE_DIR),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["vendor"] == "sqlite"
    return out


def run_in_process(task: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    """The same task against this process's database (PostgreSQL in the suite)."""
    make_org = request.getfixturevalue("make_org")
    client_for = request.getfixturevalue("client_for")
    rollup = request.getfixturevalue("rollup")
    clients = {slug: client_for(make_org(slug)) for slug in task["organizations"]}
    ingest: dict[str, list[Any]] = {}
    for slug, batches in task["organizations"].items():
        ingest[slug] = []
        for events in batches:
            body = events if isinstance(events, str) else json.dumps({"events": events})
            response = clients[slug].post("/v1/events/batch", body, content_type="application/json")
            ingest[slug].append([response.status_code, response.json()])
        rollup()
    out: dict[str, Any] = {"ingest": ingest, "answers": {}, "pages": {}}
    for name, slug, path, params in task.get("requests", []):
        answer = clients[slug].get(path, params)
        text = embedded_app._text(answer)
        out["answers"][name] = [answer.status_code, answer.get("Content-Type", ""), text]
    for name, slug, path, params in task.get("pages", []):
        params, walk = dict(params), []
        for _ in range(1000):
            answer = clients[slug].get(path, params)
            walk.append([answer.status_code, embedded_app._text(answer)])
            cursor = answer.status_code == 200 and answer.json()["pagination"]["next_cursor"]
            if not cursor:
                break
            params["cursor"] = cursor
        out["pages"][name] = walk
    return out


_embedded_runs: dict[str, dict[str, Any]] = {}


def run_task(
    engine: str, task: dict[str, Any], request: pytest.FixtureRequest, tmp_path: Path
) -> dict[str, Any]:
    """The task's answers on `engine`. A subprocess run is reused for an identical task (it
    starts from an empty database every time, so its answers are the same)."""
    if engine == "sqlite":
        digest = json.dumps(task, sort_keys=True)
        if digest not in _embedded_runs:
            _embedded_runs[digest] = run_embedded(task, tmp_path / "embedded.sqlite3")
        return _embedded_runs[digest]
    request.getfixturevalue("db")
    return run_in_process(task, request)


def exact_json(text: str) -> Any:
    """A JSON body with every non-integer number read as an exact Decimal."""
    return json.loads(text, parse_float=Decimal)


class Answers:
    """Access to one run's answers by request name."""

    def __init__(self, out: dict[str, Any]) -> None:
        self.out = out

    def status(self, name: str) -> int:
        return int(self.out["answers"][name][0])

    def body(self, name: str) -> Any:
        status, _, text = self.out["answers"][name]
        assert status == 200, (name, status, text[:2000])
        return exact_json(text)

    def error(self, name: str) -> dict[str, Any]:
        status, content_type, text = self.out["answers"][name]
        assert status == 400, (name, status, text[:2000])
        assert content_type.startswith("application/json"), (name, content_type)
        body: dict[str, Any] = json.loads(text)
        assert body["error"] == "invalid_request", body
        return body

    def text(self, name: str) -> str:
        status, _, text = self.out["answers"][name]
        assert status == 200, (name, status, text[:2000])
        return str(text)
