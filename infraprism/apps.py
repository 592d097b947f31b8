from django.apps import AppConfig


class InfraprismConfig(AppConfig):
    name = "infraprism"
    verbose_name = "Tenancy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing them registers the API key security scheme with drf-spectacular and the
        # start-up checks of settings (rate limits).
        from infraprism import checks, openapi  # noqa: F401
