"""Budgets tests: the reliability suite's process fixtures (gunicorn, Celery worker and beat on
the test database), with a Redis database of these tests' own as broker
(BUDGETS_TEST_REDIS_URL, default redis://127.0.0.1:6379/3), emptied before and after."""

import os
from collections.abc import Iterator

import pytest
import redis

from tests.dashboard.conftest import make_member, signed_in  # noqa: F401
from tests.reliability.conftest import Fleet, database_url, fleet, log_dir  # noqa: F401

BROKER_URL = os.environ.get("BUDGETS_TEST_REDIS_URL") or "redis://127.0.0.1:6379/3"


@pytest.fixture
def broker() -> Iterator[str]:
    """The Redis database the worker, beat and gunicorn of a test share, emptied first."""
    client = redis.Redis.from_url(BROKER_URL)
    client.flushdb()
    try:
        yield BROKER_URL
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def stack_env(fleet: Fleet, broker: str) -> dict[str, str]:  # noqa: F811
    """Service environment with retry delays, leases and sweeps short enough for tests."""
    return fleet.env(
        broker,
        WEBHOOK_RETRY_DELAYS="0.5,0.5,0.5",
        WEBHOOK_LEASE_SECONDS="4",
        WEBHOOK_DUE_SWEEP_SECONDS="0.5",
        BUDGET_EVALUATE_SECONDS="30",
        ROLLUP_SWEEP_SECONDS="1",
        LOG_LEVEL="INFO",
    )
