"""Global list prices, USD per million tokens, as published by each provider.

Prices last checked against the providers' public pricing pages: 2025-08-15. Each row is in
effect from the model's release (or from a published price change), so past events are priced
with the price of their day. Glob rows (`*`) catch dated snapshots such as
`claude-3-5-sonnet-20241022`; the longest matching pattern wins. Cached input is the price of a
prompt-cache hit. Update by adding rows with a later effective_from, never by editing old ones.
"""

from datetime import date
from decimal import Decimal
from typing import Any

from django.db import migrations

# (model, provider, input, output, cached_input, effective_from)
PRICES = [
    # OpenAI
    ("gpt-4o", "openai", "5.00", "15.00", None, date(2024, 5, 13)),
    ("gpt-4o", "openai", "2.50", "10.00", "1.25", date(2024, 10, 2)),
    ("gpt-4o-2024-05-13", "openai", "5.00", "15.00", None, date(2024, 5, 13)),
    ("gpt-4o-2024-08-06", "openai", "2.50", "10.00", "1.25", date(2024, 8, 6)),
    ("gpt-4o-2024-11-20", "openai", "2.50", "10.00", "1.25", date(2024, 11, 20)),
    ("gpt-4o-mini", "openai", "0.15", "0.60", "0.075", date(2024, 7, 18)),
    ("gpt-4o-mini-*", "openai", "0.15", "0.60", "0.075", date(2024, 7, 18)),
    ("gpt-4.1", "openai", "2.00", "8.00", "0.50", date(2025, 4, 14)),
    ("gpt-4.1-*", "openai", "2.00", "8.00", "0.50", date(2025, 4, 14)),
    ("gpt-4.1-mini", "openai", "0.40", "1.60", "0.10", date(2025, 4, 14)),
    ("gpt-4.1-mini-*", "openai", "0.40", "1.60", "0.10", date(2025, 4, 14)),
    ("gpt-4.1-nano", "openai", "0.10", "0.40", "0.025", date(2025, 4, 14)),
    ("gpt-4.1-nano-*", "openai", "0.10", "0.40", "0.025", date(2025, 4, 14)),
    ("gpt-5", "openai", "1.25", "10.00", "0.125", date(2025, 8, 7)),
    ("gpt-5-mini", "openai", "0.25", "2.00", "0.025", date(2025, 8, 7)),
    ("gpt-5-nano", "openai", "0.05", "0.40", "0.005", date(2025, 8, 7)),
    ("gpt-4-turbo", "openai", "10.00", "30.00", None, date(2024, 4, 9)),
    ("gpt-4-turbo-*", "openai", "10.00", "30.00", None, date(2024, 4, 9)),
    ("gpt-4", "openai", "30.00", "60.00", None, date(2023, 3, 14)),
    ("gpt-3.5-turbo", "openai", "0.50", "1.50", None, date(2024, 1, 25)),
    ("o1", "openai", "15.00", "60.00", "7.50", date(2024, 12, 17)),
    ("o1-*", "openai", "15.00", "60.00", "7.50", date(2024, 12, 17)),
    ("o1-mini", "openai", "1.10", "4.40", "0.55", date(2024, 9, 12)),
    ("o3", "openai", "10.00", "40.00", "2.50", date(2025, 4, 16)),
    ("o3", "openai", "2.00", "8.00", "0.50", date(2025, 6, 10)),
    ("o3-mini", "openai", "1.10", "4.40", "0.55", date(2025, 1, 31)),
    ("o4-mini", "openai", "1.10", "4.40", "0.275", date(2025, 4, 16)),
    ("text-embedding-3-small", "openai", "0.02", "0", None, date(2024, 1, 25)),
    ("text-embedding-3-large", "openai", "0.13", "0", None, date(2024, 1, 25)),
    # Anthropic (cached input = cache read)
    ("claude-3-opus-*", "anthropic", "15.00", "75.00", "1.50", date(2024, 2, 29)),
    ("claude-3-haiku-*", "anthropic", "0.25", "1.25", "0.03", date(2024, 3, 7)),
    ("claude-3-5-sonnet-*", "anthropic", "3.00", "15.00", "0.30", date(2024, 6, 20)),
    ("claude-3-5-haiku-*", "anthropic", "0.80", "4.00", "0.08", date(2024, 10, 22)),
    ("claude-3-7-sonnet-*", "anthropic", "3.00", "15.00", "0.30", date(2025, 2, 24)),
    ("claude-sonnet-4-*", "anthropic", "3.00", "15.00", "0.30", date(2025, 5, 22)),
    ("claude-opus-4-*", "anthropic", "15.00", "75.00", "1.50", date(2025, 5, 22)),
    ("claude-opus-4-1-*", "anthropic", "15.00", "75.00", "1.50", date(2025, 8, 5)),
    # Google (prompts up to the long-context threshold)
    ("gemini-1.5-pro", "google", "1.25", "5.00", "0.3125", date(2024, 10, 1)),
    ("gemini-1.5-flash", "google", "0.075", "0.30", "0.01875", date(2024, 8, 12)),
    ("gemini-2.0-flash", "google", "0.10", "0.40", "0.025", date(2025, 2, 5)),
    ("gemini-2.0-flash-lite", "google", "0.075", "0.30", None, date(2025, 2, 25)),
    ("gemini-2.5-pro", "google", "1.25", "10.00", "0.31", date(2025, 3, 25)),
    ("gemini-2.5-flash", "google", "0.30", "2.50", "0.075", date(2025, 6, 17)),
    ("gemini-2.5-flash-lite", "google", "0.10", "0.40", "0.025", date(2025, 7, 22)),
]


def load(apps: Any, schema_editor: Any) -> None:
    model_price = apps.get_model("ingestion", "ModelPrice")
    model_price.objects.bulk_create(
        model_price(
            organization=None,
            model=model,
            provider=provider,
            input_per_million=Decimal(inp),
            output_per_million=Decimal(out),
            cached_input_per_million=Decimal(cached) if cached is not None else None,
            effective_from=effective_from,
        )
        for model, provider, inp, out, cached, effective_from in PRICES
    )


def unload(apps: Any, schema_editor: Any) -> None:
    model_price = apps.get_model("ingestion", "ModelPrice")
    for model, _, _, _, _, effective_from in PRICES:
        model_price.objects.filter(
            organization=None, model=model, effective_from=effective_from
        ).delete()


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0002_event_tags_gin")]

    operations = [migrations.RunPython(load, unload)]
