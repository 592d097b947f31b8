"""Issue 10 items 6 and 13 (duplicate keys), and the cost bound: what the ingestion endpoints
read from a JSON body, on PostgreSQL here and on embedded SQLite through a live server."""

import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from infraprism.money import usd_to_nanos
from ingestion.models import Event
from tests.conftest import KeyClient
from tests.ingest_helpers import BATCH, EVENTS, assert_field_error, named_fields, post_raw
from tests.reliability import procs

# Half a nano-dollar and a hair more: one rounding from the exact value gives 1 nano-dollar;
# rounding to 28 significant digits first gives exactly half, then 0 (half to even).
HAIR_OVER_HALF = "0.00000000050000000000000000000000000001"
ROUNDING_CASES = [
    (HAIR_OVER_HALF, 1),
    ("0.00000000049999999999999999999999999999", 0),
    ("0.0000000005", 0),  # a true half: to even
    ("0.0000000015", 2),
    ("0.0000000025", 2),
    ("1.00000000050000000000000000000000000000000000000000000000001", 1_000_000_001),
    ("999999.999999999499999999999999999999999999", 999_999_999_999_999),
    ("5e-10", 0),
    ("5.0000000000000000000000000000000000001e-10", 1),
    ("1e-400", 0),
    ("1000000", 1_000_000_000_000_000),
]


# --- item 6: one rounding, from the exact decimal -------------------------------------------


@pytest.mark.parametrize(("usd", "nanos"), ROUNDING_CASES)
def test_usd_to_nanos_rounds_once_from_the_exact_value(usd: str, nanos: int) -> None:
    assert usd_to_nanos(Decimal(usd)) == nanos


@pytest.mark.django_db
@pytest.mark.parametrize("path", [EVENTS, BATCH])
def test_a_cost_a_hair_over_half_a_nano_dollar_is_stored_as_one(
    client: KeyClient, path: str
) -> None:
    for n, (usd, nanos) in enumerate(ROUNDING_CASES):
        item = f'{{"model": "m", "event_id": "r-{n}", "cost": {usd}}}'.encode()
        body = item if path == EVENTS else b'{"events": [' + item + b"]}"
        response = post_raw(client, path, body)
        assert response.status_code == 202, response.content
        assert Event.objects.get(event_id=f"r-{n}").cost_nanos == nanos, usd


# --- the per-call cost bound ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "cost",
    [
        "1000000.000000001",
        "1000000.0000000000000000000000000000001",
        "1e7",
        "1e400",
        pytest.param("9" * 400, id="400-digit-int"),
        # More digits than msgspec (and Python's int()) will read.
        pytest.param("1" + "0" * 5000, id="5000-digit-int"),
        "-0.000000000000000000000000001",
    ],
)
@pytest.mark.parametrize("path", [EVENTS, BATCH])
def test_a_cost_that_cannot_be_stored_is_a_400_naming_cost(
    client: KeyClient, path: str, cost: str
) -> None:
    item = f'{{"model": "m", "cost": {cost}}}'.encode()
    response = post_raw(client, path, item if path == EVENTS else b'{"events": [' + item + b"]}")
    assert response.status_code == 400, response.content
    assert "cost" in named_fields(response.json()), response.content
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_the_largest_cost_is_accepted(client: KeyClient) -> None:
    response = post_raw(client, EVENTS, b'{"model": "m", "event_id": "max", "cost": 1000000}')
    assert response.status_code == 202, response.content
    assert Event.objects.get(event_id="max").cost_nanos == 10**15


@pytest.mark.django_db
def test_the_schema_states_the_cost_bound(client: KeyClient) -> None:
    schema = json.loads(client.get("/v1/schema", HTTP_ACCEPT="application/json").content)
    events = schema["paths"]["/v1/events"]["post"]
    ref = events["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    cost = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["properties"]["cost"]
    assert (cost["minimum"], cost["maximum"]) == (0, 1_000_000)
    assert {"413", "415"} <= set(events["responses"])
    assert "Content-Encoding: gzip" in events["description"]


# --- item 13: duplicate keys ----------------------------------------------------------------

DUPLICATES = [
    (BATCH, b'{"events": [{"model": "m", "event_id": "d-1"}], "events": []}', "events"),
    (BATCH, b'{"events": [{"model": "m", "model": "n", "event_id": "d-1"}]}', "model"),
    (BATCH, b'{"events": [{"model": "m", "tags": {"k": "1", "k": "2"}}]}', "k"),
    (EVENTS, b'{"model": "m", "event_id": "d-1", "event_id": "d-2"}', "event_id"),
    (EVENTS, b'{"model": "m", "tags": {"env": "a", "env": "a"}}', "env"),
    (EVENTS, b'{"model": "m", "tags": {"\\u00e9": "1", "\xc3\xa9": "2"}}', "\u00e9"),
    (EVENTS, b'{"model": "m", "tags": {"a\\"b": "1", "a\\"b": "2"}}', 'a"b'),
    (EVENTS, b'{"model": "m", "cost": 1, "cost": 2}', "cost"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "body", "key"), DUPLICATES)
def test_a_duplicate_key_anywhere_is_a_400_naming_it(
    client: KeyClient, path: str, body: bytes, key: str
) -> None:
    response = assert_field_error(post_raw(client, path, body), key)
    assert "Duplicate key" in response["detail"]
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_a_duplicate_key_beside_a_number_of_thousands_of_digits_is_found(
    client: KeyClient,
) -> None:
    """jiter cannot read such a number; the fallback decoder must refuse the duplicate too."""
    body = b'{"model": "m", "cost": 1' + b"0" * 5000 + b', "model": "n"}'
    response = assert_field_error(post_raw(client, EVENTS, body), "model")
    assert "Duplicate key" in response["detail"]


@pytest.mark.django_db
def test_a_duplicate_key_inside_gzip_is_found(client: KeyClient) -> None:
    body = gzip.compress(DUPLICATES[0][1])
    response = post_raw(client, BATCH, body, HTTP_CONTENT_ENCODING="gzip")
    assert_field_error(response, "events")


@pytest.mark.django_db
def test_equal_keys_in_different_objects_are_fine(client: KeyClient) -> None:
    body = {
        "events": [
            {"model": "m", "event_id": "e-1", "tags": {"model": "x", "event_id": "y"}},
            {"model": "m", "event_id": "e-2", "tags": {"model": "x"}},
        ]
    }
    response = post_raw(client, BATCH, json.dumps(body).encode())
    assert response.status_code == 202, response.content
    assert Event.objects.count() == 2


# --- embedded SQLite, through a live server -------------------------------------------------


@pytest.mark.integration
def test_embedded_sqlite_reads_bodies_the_same_way(tmp_path: Path) -> None:
    env = procs.service_env(
        f"sqlite:///{tmp_path / 'embedded.sqlite3'}", "", CACHE_FILE=str(tmp_path / "c.sqlite3")
    )
    procs.manage(env, "migrate", "--noinput", "-v", "0")
    procs.manage(env, "create_org", "json-sqlite")
    key = procs.manage(env, "create_api_key", "json-sqlite", "--name", "k").strip().splitlines()[-1]
    server = procs.start_gunicorn(env, tmp_path / "logs")
    headers = {"Authorization": f"Bearer {key}"}
    with procs.running(server):
        batch = b'{"events": [{"model": "m", "event_id": "hair", "session_id": "s", "cost": '
        batch += HAIR_OVER_HALF.encode() + b"}]}"
        sent = requests.post(
            f"{server.url}{BATCH}",
            data=b"\xef\xbb\xbf" + gzip.compress(batch),
            headers={**headers, "Content-Encoding": "gzip"},
            timeout=30,
        )
        assert sent.status_code == 400  # the BOM is inside the gzip data or nowhere
        sent = requests.post(
            f"{server.url}{BATCH}",
            data=gzip.compress(b"\xef\xbb\xbf" + batch),
            headers={**headers, "Content-Encoding": "gzip"},
            timeout=30,
        )
        assert sent.status_code == 202, sent.text
        events = requests.get(f"{server.url}/v1/analytics/events", headers=headers, timeout=30)
        assert [e["cost"] for e in events.json()["data"]] == [0.000000001]
        duplicate = requests.post(
            f"{server.url}{EVENTS}", data=DUPLICATES[3][1], headers=headers, timeout=30
        )
        assert duplicate.status_code == 400
        assert "event_id" in duplicate.json()["errors"]
        over = requests.post(
            f"{server.url}{EVENTS}",
            data=b'{"model": "m", "cost": 1e7}',
            headers=headers,
            timeout=30,
        )
        assert over.status_code == 400 and "cost" in over.json()["errors"]
        encoded = requests.post(
            f"{server.url}{EVENTS}",
            data=b'{"model": "m"}',
            headers={**headers, "Content-Encoding": "br"},
            timeout=30,
        )
        assert encoded.status_code == 415
        assert "Content-Encoding" in encoded.json()["errors"]
