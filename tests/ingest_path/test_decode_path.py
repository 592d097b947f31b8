"""Valid bodies decode straight into the schema's structs (one C pass), for single events and
batches alike, through the URLconf as served: the per-item slow path is for bodies that fail.

A batch once went through the single-event parser (its URL did not carry the action's
parser), so every valid batch failed the fast decode and was validated item by item.
"""

import json
from typing import Any

import pytest

from ingestion import services
from ingestion.schema import EventIn
from tests.conftest import KeyClient
from tests.factories import event
from tests.ingest_helpers import BATCH, EVENTS, post_raw


@pytest.fixture
def validated_items(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []
    original = services.events_validate

    def recording(*, items: list[Any], now: Any) -> Any:
        seen.extend(items)
        return original(items=items, now=now)

    monkeypatch.setattr(services, "events_validate", recording)
    return seen


def test_a_valid_batch_reaches_validation_as_structs(
    client: KeyClient, validated_items: list[Any]
) -> None:
    body = {"events": [event(f"d-{n}", cost=0.001, session_id="s-1") for n in range(3)]}
    response = post_raw(client, BATCH, json.dumps(body).encode())
    assert response.status_code == 202, response.content
    assert len(validated_items) == 3
    assert all(isinstance(item, EventIn) for item in validated_items), validated_items


def test_a_valid_event_reaches_validation_as_a_struct(
    client: KeyClient, validated_items: list[Any]
) -> None:
    response = post_raw(client, EVENTS, json.dumps(event("d-one", cost=0.001)).encode())
    assert response.status_code == 202, response.content
    assert [type(item) for item in validated_items] == [EventIn]


def test_a_batch_with_one_bad_event_is_read_item_by_item(
    client: KeyClient, validated_items: list[Any]
) -> None:
    body = {"events": [event("d-good", cost=0.001), event("d-bad", input_tokens=-1)]}
    response = post_raw(client, BATCH, json.dumps(body).encode())
    assert response.status_code == 207, response.content
    assert [type(item) for item in validated_items] == [dict, dict]
