import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infraprism.settings")
django_application = get_wsgi_application()

# POST /v1/events answered before Django's stack when it will certainly be accepted
# (INGEST_FAST_PATH; ingestion/fast_path.py); every other request goes to Django as it is.
from ingestion.fast_path import SingleEventFastPath  # noqa: E402 - needs django.setup()

application = SingleEventFastPath(django_application)

# gunicorn runs no system checks: refuse to serve with settings that would fail every request.
from infraprism.checks import serious_startup_errors  # noqa: E402 - needs django.setup()

if startup_errors := serious_startup_errors():
    raise ImproperlyConfigured("; ".join(startup_errors))
