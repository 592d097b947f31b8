from django.apps import AppConfig
from django.db.backends.signals import connection_created


class LlmSessionsConfig(AppConfig):
    name = "sessions"
    # `sessions` is django.contrib.sessions' label.
    label = "llm_sessions"
    verbose_name = "LLM sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sessions.sqlite_functions import register_sqlite_functions

        connection_created.connect(register_sqlite_functions, dispatch_uid="sessions.sqlite")
