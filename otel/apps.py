from django.apps import AppConfig


class OtelConfig(AppConfig):
    """OTLP/HTTP trace ingestion: GenAI spans become InfraPrism events (docs/api.md)."""

    name = "otel"
    verbose_name = "OpenTelemetry ingestion"
