"""The product on the embedded default (SQLite, no Redis, rollups in-process), driven from a
test: `python -m tests.analytics.embedded_app` with DATABASE_URL=sqlite:///... reads a task as
JSON on stdin and prints the answers as JSON on its last stdout line.

Task: {"organizations": {slug: [[event, ...], ...]},   # batches POSTed in order, per org
       "requests": [[name, slug, path, params], ...],
       "pages": [[name, slug, path, params], ...]}       # followed through every next_cursor
Answer: {"vendor", "rollup_in_process", "redis_url", "ingest": {slug: [[status, body], ...]},
         "pending_after_ingest", "sessions_after_ingest",
         "answers": {name: [status, content_type, text]}, "pages": {name: [[status, text], ...]}}
Bodies are returned as text so the test can read numbers exactly (json parse_float=Decimal).
"""

import json
import sys
from typing import Any


def _client(slug: str) -> Any:
    from django.test import Client

    from infraprism.services import api_key_create, organization_create

    organization = organization_create(slug=slug, name=slug.title())
    _, key = api_key_create(organization=organization, name="test", scopes=["ingest", "read"])
    return Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {key}")


def _text(response: Any) -> str:
    content = getattr(response, "streaming_content", None)
    raw = b"".join(content) if content is not None else response.content
    return str(raw.decode("utf-8"))


def run(task: dict[str, Any]) -> dict[str, Any]:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from sessions.models import PendingRollup, Session

    call_command("migrate", interactive=False, verbosity=0)
    clients: dict[str, Any] = {}
    ingest: dict[str, list[Any]] = {}
    for slug, batches in task["organizations"].items():
        clients[slug] = client = _client(slug)
        ingest[slug] = []
        for events in batches:
            # A batch is a list of events, or the body's JSON text as it is to be sent.
            body = events if isinstance(events, str) else json.dumps({"events": events})
            response = client.post("/v1/events/batch", body, content_type="application/json")
            ingest[slug].append([response.status_code, response.json()])
    out: dict[str, Any] = {
        "vendor": connection.vendor,
        "rollup_in_process": settings.ROLLUP_IN_PROCESS,
        "redis_url": settings.REDIS_URL,
        "ingest": ingest,
        # No manual rollup: the ingest's on-commit hook ran it in this process.
        "pending_after_ingest": PendingRollup.objects.count(),
        "sessions_after_ingest": Session.objects.count(),
        "answers": {},
        "pages": {},
    }
    for name, slug, path, params in task.get("requests", []):
        answer = clients[slug].get(path, params)
        out["answers"][name] = [answer.status_code, answer.get("Content-Type", ""), _text(answer)]
    for name, slug, path, params in task.get("pages", []):
        params, walk = dict(params), []
        for _ in range(1000):
            answer = clients[slug].get(path, params)
            walk.append([answer.status_code, _text(answer)])
            cursor = answer.status_code == 200 and answer.json()["pagination"]["next_cursor"]
            if not cursor:
                break
            params["cursor"] = cursor
        out["pages"][name] = walk
    return out


def main() -> None:
    import django

    django.setup()
    task = json.loads(sys.stdin.read())
    print(json.dumps(run(task)))


if __name__ == "__main__":
    main()
