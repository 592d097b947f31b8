"""The per-process price book cache: reused within its lifetime, cleared by admin edits."""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ingestion.models import Event, ModelPrice
from ingestion.pricing import price_cache_clear
from tests.factories import event


@pytest.fixture(autouse=True)
def _cache_on(settings: Any) -> Any:
    settings.PRICE_CACHE_SECONDS = 30
    price_cache_clear()
    yield
    price_cache_clear()


def _price_queries(client: Any, event_id: str, model: str = "gpt-4o") -> int:
    body = event(event_id, model=model, input_tokens=1_000_000, timestamp="2025-06-01T00:00:00Z")
    with CaptureQueriesContext(connection) as queries:
        assert client.post_json("/v1/events", body).status_code == 202
    return sum("ingestion_modelprice" in q["sql"] for q in queries.captured_queries)


def test_the_price_table_is_read_once_per_lifetime(client: Any) -> None:
    assert _price_queries(client, "a") == 1
    assert _price_queries(client, "b") == 0
    assert Event.objects.get(event_id="b").cost_nanos == 2_500_000_000  # 1M tokens x $2.50


def test_an_admin_price_edit_applies_at_once(client: Any, org: Any, admin_client: Any) -> None:
    assert _price_queries(client, "before") == 1
    response = admin_client.post(
        "/admin/ingestion/modelprice/add/",
        {
            "organization": org.pk,
            "model": "gpt-4o",
            "provider": "openai",
            "input_per_million": "1.00",
            "output_per_million": "4.00",
            "cached_input_per_million": "",
            "effective_from": "2025-01-01",
        },
    )
    assert response.status_code == 302, response.content
    assert ModelPrice.objects.filter(organization=org).count() == 1
    assert _price_queries(client, "after") == 1
    assert Event.objects.get(event_id="after").cost_nanos == 1_000_000_000  # the override
