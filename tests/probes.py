"""Fresh-interpreter probes: `python -m tests.probes NAME` prints what a new process sees.

Settings are read once, at import, so a test that varies the environment starts one of these
(from the repository root) and reads the JSON lines it prints.

- settings: one line with the settings the environment decides.
- readiness: one line per probe path (/healthz, /readyz): status and body.
"""

import json
import os
import sys
from typing import Any


def _setup() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "infraprism.settings"
    import django

    django.setup()


def print_settings() -> None:
    from django.conf import settings as s

    db = s.DATABASES["default"]
    seen: dict[str, Any] = {
        "engine": db["ENGINE"],
        "name": str(db["NAME"]),
        "host": db.get("HOST", ""),
        "port": db.get("PORT", ""),
        "options": db.get("OPTIONS", {}),
        "rollup_in_process": s.ROLLUP_IN_PROCESS,
        "redis_url": s.REDIS_URL,
        "broker": s.CELERY_BROKER_URL,
        "cache": s.CACHES["default"]["BACKEND"],
        "debug": s.DEBUG,
        "secret_key": s.SECRET_KEY,
        "allowed_hosts": s.ALLOWED_HOSTS,
        "session_cookie_secure": s.SESSION_COOKIE_SECURE,
        "csrf_cookie_secure": s.CSRF_COOKIE_SECURE,
        "hsts": s.SECURE_HSTS_SECONDS,
    }
    print(json.dumps(seen))


def print_readiness() -> None:
    from django.test import Client

    for path in ["/healthz", "/readyz"]:
        response = Client().get(path)
        print(json.dumps({"path": path, "status": response.status_code, "body": response.json()}))


PROBES = {"settings": print_settings, "readiness": print_readiness}


def main(argv: list[str]) -> None:
    (name,) = argv
    _setup()
    PROBES[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
