"""Schemathesis against our own /v1/schema, every operation, with every check, through a live
gunicorn server with a valid key: no 5xx; every response (status, content type, headers, body)
as documented; every request the schema allows accepted (positive_data_acceptance) and every
request it forbids refused (negative_data_rejection).

Bounded (MAX_EXAMPLES per operation, derandomized) so the run stays around a minute or two.
tests/reliability/schemathesis.toml holds the settings the hand run (`st run`) uses too: the
hooks for the few rules OpenAPI 3.0 cannot state, and 207 as the rejection of a partly invalid
batch (docs/decisions.md, "Hardening: the schema is the contract").

Not in the schema, so not here: /v1/otel/v1/traces (OTLP bodies are protobuf or the OTLP JSON
mapping, an external specification: tests/otel covers them), /metrics (Prometheus text, not
under /v1) and /healthz, /readyz (no key, no parameters: tests/test_health.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig

import tests.reliability.schema_hooks  # noqa: F401  # registers the hooks
from sessions.services import session_rollup_drain
from tests.reliability.conftest import Stack, Tenant
from tests.reliability.support import Api, record

CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = 10
# A session the generated paths find: hypothesis tries "0" first, so the detail and timeline
# answers (calls, steps) are checked against their schemas too, not only the 404.
SEEDED_SESSION = "0"

load_all_checks()
ALL_CHECKS = CHECKS.get_all()


@pytest.fixture(scope="session")
def api_schema(live: Stack) -> Any:
    config = SchemathesisConfig.from_path(CONFIG)
    return schemathesis.openapi.from_url(f"{live.url}/v1/schema", config=config)


@pytest.fixture
def fuzz_key(live: Stack, make_tenant: Callable[[str], Tenant]) -> str:
    tenant = make_tenant("fuzz")
    call = {"model": "gpt-4o-mini", "session_id": SEEDED_SESSION, "input_tokens": 10}
    answer = Api(live.url, tenant.key).batch(
        [
            {**call, "event_id": "a", "timestamp": "2025-01-01T00:00:00Z", "cost": 0.25},
            {**call, "event_id": "b", "entity_type": "user", "entity_id": "u1", "tags": {"k": "v"}},
        ]
    )
    assert answer.status_code == 202, answer.text
    session_rollup_drain(organization_id=tenant.org.pk)
    return tenant.key


schema = schemathesis.pytest.from_fixture("api_schema")


def test_every_check_is_run() -> None:
    names = {check.__name__ for check in ALL_CHECKS}
    assert {"positive_data_acceptance", "negative_data_rejection", "not_a_server_error"} <= names
    assert "response_schema_conformance" in names


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_matches_its_schema(case: Any, fuzz_key: str) -> None:
    headers = {"Authorization": f"Bearer {fuzz_key}"}
    response = case.call(headers=headers, timeout=30)
    record(schemathesis_requests=1, schemathesis_5xx_seen=int(response.status_code >= 500))
    case.validate_response(response, checks=ALL_CHECKS, headers=headers)
