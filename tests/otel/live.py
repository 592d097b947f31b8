"""A live gunicorn for the OTLP and metrics tests, started the way `make run` starts it.

Only the stable public helpers of tests/reliability/procs.py are used (service_env,
start_gunicorn, start_worker), since that module is shared with other suites.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from infraprism.models import ApiKey, Organization
from infraprism.services import api_key_create, organization_create
from tests.reliability import procs


def database_url_of_tests() -> str:
    """The test database (not the configured one) as a URL for the server processes."""
    s = connection.settings_dict
    auth = s["USER"] or ""
    if s["PASSWORD"]:
        auth += f":{s['PASSWORD']}"
    host = s["HOST"] or "127.0.0.1"
    port = f":{s['PORT']}" if s["PORT"] else ""
    assert str(s["NAME"]).startswith("test_"), s["NAME"]
    return f"postgres://{auth}@{host}{port}/{s['NAME']}"


def server_env(**overrides: str) -> dict[str, str]:
    # Rollups in the web process right after each ingest commits: no worker to wait for.
    defaults = {"ROLLUP_IN_PROCESS": "true", "API_KEY_CACHE_SECONDS": "0", "LOG_LEVEL": "WARNING"}
    return procs.service_env(database_url_of_tests(), settings.REDIS_URL, **defaults | overrides)


@dataclass
class Tenant:
    org: Organization
    key: str  # ingest + read


def tenant(slug: str) -> Tenant:
    org = organization_create(slug=slug, name=slug.title())
    _, key = api_key_create(
        organization=org, name="otel", scopes=[ApiKey.SCOPE_INGEST, ApiKey.SCOPE_READ]
    )
    return Tenant(org=org, key=key)
