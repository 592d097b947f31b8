"""Run a rollup scenario through the HTTP API on whichever database Django is using.

The same function serves both engines: the PostgreSQL tests call it in-process with a key's
test client; rollup_embedded.py calls it in a child process on a fresh SQLite file. Each batch
is POSTed, then `manage.py rollup` runs (on SQLite the ingest already rolled up in-process, so
the command must find nothing and must not fail); then every request is answered, and every
walk (a request whose name starts with "walk") follows next_cursor to the last page. Bodies are
returned as text, so money can be read with Decimal and compared exactly.
"""

import json
from decimal import Decimal
from io import StringIO
from typing import Any

from django.core.management import call_command

Request = tuple[str, str, dict[str, Any]]  # (name, path, query parameters)


def scenario_answers(
    client: Any, batches: list[list[dict[str, Any]]], requests: list[Request]
) -> dict[str, Any]:
    ingests = []
    for batch in batches:
        response = client.post(
            "/v1/events/batch", json.dumps({"events": batch}), content_type="application/json"
        )
        ingests.append(response.status_code)
        call_command("rollup", stdout=StringIO())
    answers: dict[str, Any] = {}
    for name, path, params in requests:
        if name.startswith("walk"):
            answers[name] = _walk(client, path, dict(params))
            continue
        response = client.get(path, params)
        answers[name] = [response.status_code, response.content.decode()]
    return {"ingests": ingests, "answers": answers}


def _walk(client: Any, path: str, params: dict[str, Any]) -> list[list[Any]]:
    """Every page, as [status, text], following next_cursor (at most 100 pages)."""
    pages = []
    for _ in range(100):
        response = client.get(path, params)
        pages.append([response.status_code, response.content.decode()])
        cursor = response.status_code == 200 and response.json()["pagination"]["next_cursor"]
        if not cursor:
            break
        params["cursor"] = cursor
    return pages


def body(answer: list[Any]) -> Any:
    """A JSON answer with every non-integer number as an exact Decimal."""
    return json.loads(answer[1], parse_float=Decimal)
