"""Liveness and readiness probes (no authentication)."""

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from infraprism.redis_client import redis_ping


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"down: {type(exc).__name__}"
    if settings.REDIS_URL:
        checks["broker"] = "ok" if redis_ping() else "down: Redis did not answer"
    else:
        checks["broker"] = "not used (embedded mode: rollups run in-process)"
    down = [name for name, state in checks.items() if state.startswith("down")]
    body: dict[str, object] = {"status": "unavailable" if down else "ok", "checks": checks}
    if down:
        body["down"] = down
    return JsonResponse(body, status=503 if down else 200)
