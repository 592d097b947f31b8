"""Start-up checks of settings that would otherwise fail on every request.

Registered in InfraprismConfig.ready(): `manage.py migrate`, `check` and `runserver` refuse to
go on, and infraprism/wsgi.py runs the same checks before gunicorn serves anything.
"""

from typing import Any

from django.conf import settings
from django.core import checks

from infraprism.ratelimit import RATE_SETTINGS, parse_rate

TAG = "infraprism"


@checks.register(TAG)
def rate_limit_settings_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for number, name in enumerate(RATE_SETTINGS, start=1):
        try:
            parse_rate(getattr(settings, name))
        except ValueError as exc:
            errors.append(
                checks.Error(
                    f"{name} is malformed: {exc}",
                    hint=f"Set {name} to a rate such as '6000/min', '100/10s' or 'off'.",
                    id=f"infraprism.E00{number}",
                )
            )
    return errors


def serious_startup_errors() -> list[str]:
    """The messages of every failing check above (for the WSGI entry point)."""
    return [str(message) for message in checks.run_checks(tags=[TAG]) if message.is_serious()]
