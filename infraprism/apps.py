from django.apps import AppConfig


class InfraprismConfig(AppConfig):
    name = "infraprism"
    verbose_name = "Tenancy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the API key security scheme with drf-spectacular.
        from infraprism import openapi  # noqa: F401
