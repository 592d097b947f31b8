from django.apps import AppConfig


class LlmSessionsConfig(AppConfig):
    name = "sessions"
    # `sessions` is django.contrib.sessions' label.
    label = "llm_sessions"
    verbose_name = "LLM sessions"
    default_auto_field = "django.db.models.BigAutoField"
