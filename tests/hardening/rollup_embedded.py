"""The embedded default (SQLite, no Redis, in-process rollups) in a process of its own:
`python -m tests.hardening.rollup_embedded` with DATABASE_URL=sqlite:///... and REDIS_URL
empty. Reads {"batches": [...], "requests": [...]} on stdin, migrates, makes an organization
and a key, runs rollup_api.scenario_answers and prints its result as JSON on the last line.
"""

import json
import sys

import django


def main() -> None:
    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from infraprism.services import api_key_create, organization_create
    from tests.hardening.rollup_api import scenario_answers

    assert connection.vendor == "sqlite", connection.vendor
    call_command("migrate", interactive=False, verbosity=0)
    org = organization_create(slug="embedded", name="Embedded")
    _, key = api_key_create(organization=org, name="test", scopes=["ingest", "read"])
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {key}")
    task = json.loads(sys.stdin.read())
    result = scenario_answers(client, task["batches"], [tuple(r) for r in task["requests"]])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
