"""The "Querying Sessions" snippet of seed/sessions-guide.txt, run as written over real HTTP.

The chatbot example of the same guide sends three gpt-4o calls for customer acme-corp tagged
feature=chatbot, without a cost: the server prices them from the price table.
"""

import contextlib
import importlib
import io
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.apps import apps as django_apps

from ingestion.models import ModelPrice
from tests.analytics.helpers import ingest
from tests.factories import event
from tests.guide_traffic import CHAT_TURNS, chatbot_calls

# Verbatim from the guide; only the base URL and the key are filled in (the guide's flattened
# text lost its indentation, restored here).
GUIDE_SNIPPET = """
# Get session summary
response = requests.get(
    "https://api.infraprism.com/v1/analytics/sessions",
    headers={"Authorization": "Bearer ip-..."},
    params={
        "entity_type": "customer",
        "entity_id": "acme-corp",
        "start_date": "2025-01-01",
    },
)

for session in response.json()["data"]:
    print(f"Session {session['session_id']}")
    print(f" Turns: {session['turn_count']}")
    print(f" Cost: ${session['total_cost']:.4f}")
"""

# gpt-4o list price in effect since 2024-10-02 (ingestion/migrations/0003_list_prices.py):
# USD 2.50 per million input tokens, 10.00 per million output tokens.
GPT_4O_INPUT = Decimal("2.50") / 1_000_000
GPT_4O_OUTPUT = Decimal("10.00") / 1_000_000

# CHAT_TURNS (tests/guide_traffic.py): (input_tokens, output_tokens) of the three chatbot turns.


@pytest.fixture
def list_prices(transactional_db: None) -> None:
    """The shipped price table. It comes from a data migration, so a transactional test that
    ran earlier may have flushed it: load it again from that same migration."""
    if not ModelPrice.objects.filter(organization=None, model="gpt-4o").exists():
        importlib.import_module("ingestion.migrations.0003_list_prices").load(django_apps, None)


@pytest.mark.django_db(transaction=True)
def test_guide_snippet_prints_the_chatbot_sessions(
    live_server: Any, list_prices: None, client: Any, rollup: Callable[[], Any]
) -> None:
    chat = str(uuid.uuid4())
    earlier = str(uuid.uuid4())
    ingest(client, chatbot_calls(session_id=chat, customer="acme-corp", day="2025-03-10"))
    # A one-turn conversation earlier, an acme-corp session before start_date, another
    # customer, and a non-customer entity with the same id: only the first is printed with chat.
    ingest(
        client,
        [
            event(timestamp="2025-02-01T08:00:00Z", model="gpt-4o", session_id=earlier,
                  entity_type="customer", entity_id="acme-corp", input_tokens=800,
                  output_tokens=150, tags={"feature": "chatbot"}),
            event(timestamp="2024-12-31T22:00:00Z", model="gpt-4o", session_id="old",
                  entity_type="customer", entity_id="acme-corp", input_tokens=10),
            event(timestamp="2025-03-10T10:00:00Z", model="gpt-4o", session_id="globex-1",
                  entity_type="customer", entity_id="globex", input_tokens=10),
            event(timestamp="2025-03-10T10:00:00Z", model="gpt-4o", session_id="team-1",
                  entity_type="team", entity_id="acme-corp", input_tokens=10),
        ],
    )  # fmt: skip
    rollup()

    source = GUIDE_SNIPPET.replace("https://api.infraprism.com", live_server.url).replace(
        "ip-...", client.key
    )
    assert source.count(live_server.url) == 1 and source.count(client.key) == 1
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        exec(compile(source, "sessions-guide.txt", "exec"), {"requests": requests})

    chat_cost = sum(i * GPT_4O_INPUT + o * GPT_4O_OUTPUT for i, o in CHAT_TURNS)
    assert chat_cost == Decimal("0.0123")  # 0.0035 + 0.0041 + 0.0047, computed by hand
    earlier_cost = 800 * GPT_4O_INPUT + 150 * GPT_4O_OUTPUT
    assert earlier_cost == Decimal("0.0035")
    assert stdout.getvalue().splitlines() == [
        f"Session {chat}",
        " Turns: 3",
        " Cost: $0.0123",
        f"Session {earlier}",
        " Turns: 1",
        " Cost: $0.0035",
    ]

    # The same request answered over HTTP as the snippet saw it: server-priced, exact.
    response = requests.get(
        f"{live_server.url}/v1/analytics/sessions/{chat}",
        headers={"Authorization": f"Bearer {client.key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    detail = response.json()["data"]
    assert detail["total_cost"] == float(chat_cost)
    assert detail["tags"] == {"feature": "chatbot"}
    assert [call["cost_source"] for call in detail["calls"]] == ["computed"] * 3
    assert [call["cost"] for call in detail["calls"]] == [0.0035, 0.0041, 0.0047]


@pytest.mark.django_db(transaction=True)
def test_guide_snippet_with_a_bad_key_gets_401_over_http(live_server: Any) -> None:
    response = requests.get(
        f"{live_server.url}/v1/analytics/sessions",
        headers={"Authorization": "Bearer ip-..."},
        params={"entity_type": "customer", "entity_id": "acme-corp", "start_date": "2025-01-01"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]
