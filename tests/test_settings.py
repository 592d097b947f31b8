"""Settings from the environment, checked in fresh interpreters (settings are read at import)."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)

# Everything settings.py reads; each test starts from none of them set.
SETTINGS_ENV = [
    "DATABASE_URL",
    "REDIS_URL",
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "ALLOWED_HOSTS",
    "ROLLUP_IN_PROCESS",
    "DB_CONN_MAX_AGE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "CSRF_TRUSTED_ORIGINS",
    "SILENCED_SYSTEM_CHECKS",
    "INGEST_RATE_LIMIT",
    "READ_RATE_LIMIT",
    "CACHE_FILE",
    "MAX_BODY_BYTES",
    "LOG_LEVEL",
    "DJANGO_SETTINGS_MODULE",
]

PROBE = ["-m", "tests.probes", "settings"]  # run from BASE_DIR


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV}
    env.update(overrides)
    return env


def probe(**overrides: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, *PROBE],
        cwd=BASE_DIR,
        env=_env(**overrides),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def test_no_database_url_means_embedded_sqlite_and_in_process_rollups() -> None:
    s = probe()
    assert s["engine"] == "django.db.backends.sqlite3"
    assert s["name"] == str(BASE_DIR / "var" / "infraprism.sqlite3")
    assert s["rollup_in_process"] is True
    assert s["redis_url"] == ""
    assert s["broker"] == "memory://"
    # Shared by every gunicorn worker (a per-process cache would multiply the rate limits).
    assert s["cache"] == "infraprism.sqlite_cache.SQLiteFileCache"


def test_sqlite_url_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    s = probe(DATABASE_URL=f"sqlite:///{path}")
    assert s["engine"] == "django.db.backends.sqlite3"
    assert s["name"] == str(path)
    assert s["rollup_in_process"] is True


def test_postgres_database_url() -> None:
    s = probe(DATABASE_URL="postgres://ip_user:pw@db.example.com:6543/infraprism_prod")
    assert s["engine"] == "django.db.backends.postgresql"
    assert s["name"] == "infraprism_prod"
    assert s["host"] == "db.example.com"
    assert int(s["port"]) == 6543
    assert s["options"]["connect_timeout"] == 5
    # PostgreSQL without Redis still rolls up in-process.
    assert s["rollup_in_process"] is True


def test_redis_url_moves_rollups_to_the_worker() -> None:
    s = probe(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/x", REDIS_URL="redis://127.0.0.1:6379/3"
    )
    assert s["engine"] == "django.db.backends.postgresql"
    assert s["rollup_in_process"] is False
    assert s["redis_url"] == "redis://127.0.0.1:6379/3"
    assert s["broker"] == "redis://127.0.0.1:6379/3"
    assert s["cache"] == "django.core.cache.backends.redis.RedisCache"


def test_rollup_in_process_can_be_forced() -> None:
    s = probe(REDIS_URL="redis://127.0.0.1:6379/3", ROLLUP_IN_PROCESS="true")
    assert s["rollup_in_process"] is True


def test_debug_off_and_secure_cookies_by_default() -> None:
    s = probe()
    assert s["debug"] is False
    assert s["session_cookie_secure"] is True
    assert s["csrf_cookie_secure"] is True
    assert s["hsts"] == 31536000
    assert s["allowed_hosts"] == ["127.0.0.1", "localhost"]


def test_debug_from_environment() -> None:
    s = probe(DJANGO_DEBUG="true")
    assert s["debug"] is True
    assert s["session_cookie_secure"] is False
    assert probe(DJANGO_DEBUG="false")["debug"] is False


def test_secret_key_from_environment_else_stable_local_secret() -> None:
    given = secrets.token_urlsafe(50)
    assert probe(DJANGO_SECRET_KEY=given)["secret_key"] == given

    first = probe()["secret_key"]
    assert len(first) >= 50
    assert first != given
    # The generated key is kept (under var/, mode 600), not drawn again per process.
    assert probe()["secret_key"] == first
    secret_file = BASE_DIR / "var" / "secret_key"
    assert secret_file.read_text().strip() == first
    assert secret_file.stat().st_mode & 0o077 == 0


def test_allowed_hosts_from_environment() -> None:
    assert probe(ALLOWED_HOSTS="example.com,api.example.com")["allowed_hosts"] == [
        "example.com",
        "api.example.com",
    ]


def _check_deploy(**overrides: str) -> subprocess.CompletedProcess[str]:
    env = _env(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="example.com", **overrides
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_environment() -> None:
    result = _check_deploy()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNINGS" not in output, output
    assert "ERRORS" not in output, output
    # Only security.W008 (no HTTP->HTTPS redirect for an API) is silenced, by design: see
    # docs/decisions.md "Deployment checks".
    assert "System check identified no issues (1 silenced)." in output, output


def test_only_the_ssl_redirect_check_is_silenced(settings: Any) -> None:
    assert settings.SILENCED_SYSTEM_CHECKS == ["security.W008"]


def test_check_deploy_fails_with_debug_on() -> None:
    # The check itself can fail: DEBUG on is reported.
    result = _check_deploy(DJANGO_DEBUG="true")
    assert "security.W018" in result.stdout + result.stderr


def test_check_deploy_is_clean_when_ssl_redirect_is_on() -> None:
    result = _check_deploy(SECURE_SSL_REDIRECT="true")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output, output
