"""Liveness and readiness probes: no authentication, 503 naming what is down."""

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client

# The local Redis `make test` uses when REDIS_URL is not set.
LOCAL_REDIS = "redis://127.0.0.1:6379/15"


def test_healthz_needs_nothing() -> None:
    # No database access allowed here: liveness must not depend on it.
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_ok_when_database_and_broker_are_up(settings: Any) -> None:
    settings.REDIS_URL = settings.REDIS_URL or LOCAL_REDIS
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok"},
    }


@pytest.mark.django_db
def test_readyz_503_names_the_broker_when_redis_is_down(settings: Any) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["down"] == ["broker"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("down")


@pytest.mark.django_db
def test_readyz_ok_in_embedded_mode_without_redis(settings: Any) -> None:
    settings.REDIS_URL = ""
    response = Client().get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("not used")
    assert "down" not in body


@pytest.mark.django_db
def test_probes_ignore_authorization_headers(settings: Any) -> None:
    # A bad key must not turn a probe into a 401.
    settings.REDIS_URL = settings.REDIS_URL or LOCAL_REDIS
    client = Client(HTTP_AUTHORIZATION="Bearer ip-" + "x" * 43)
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_readyz_503_names_the_database_when_it_is_down() -> None:
    # A fresh process whose database is a closed port (the test database stays untouched).
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere", ALLOWED_HOSTS="testserver")
    result = subprocess.run(
        [sys.executable, "-m", "tests.probes", "readiness"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    healthz, readyz = (json.loads(line) for line in result.stdout.strip().splitlines()[-2:])
    assert healthz["status"] == 200
    assert readyz["status"] == 503
    assert readyz["body"]["down"] == ["database"]
    assert readyz["body"]["checks"]["database"].startswith("down")
