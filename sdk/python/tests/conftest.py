"""Fixtures: the fake OpenAI upstream, a live InfraPrism server, a local batch sink, clients.

These tests run from sdk/python with the SDK's own virtualenv: the repository root (whose
Django package is also called `infraprism`) is never on sys.path here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest

import infraprism
from tests.support.fake_openai import FakeOpenAI, start_fake_openai
from tests.support.live_server import LiveServer, start_live_server
from tests.support.sink import Sink, start_sink

# gpt-4o-2024-08-06 in the server's price table (ingestion/migrations/0003_list_prices.py),
# USD per million tokens: input, output, cached input.
GPT_4O_2024_08_06 = (Decimal("2.50"), Decimal("10.00"), Decimal("1.25"))


def expected_cost(*, input_tokens: int, output_tokens: int, cached: int) -> Decimal:
    """One call's cost as the price table makes it (cached tokens are part of the input),
    rounded half-even to the nano-dollar like the server."""
    price_in, price_out, price_cached = GPT_4O_2024_08_06
    usd = (
        (input_tokens - cached) * price_in + cached * price_cached + output_tokens * price_out
    ) / Decimal(1_000_000)
    return usd.quantize(Decimal("0.000000001"), rounding=ROUND_HALF_EVEN)


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = start_fake_openai()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def live() -> Iterator[LiveServer]:
    server = start_live_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sink() -> Iterator[Sink]:
    started = start_sink()
    yield started
    started.stop()


@pytest.fixture
def guide_env(
    monkeypatch: pytest.MonkeyPatch, fake_openai: FakeOpenAI, live: LiveServer
) -> LiveServer:
    """The environment the guide's code runs in: OpenAI is the fake, InfraPrism the live server."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("INFRAPRISM_API_KEY", live.api_key)
    monkeypatch.setenv("INFRAPRISM_BASE_URL", live.url)
    monkeypatch.delenv("INFRAPRISM_DISABLED", raising=False)
    return live


ClientFactory = Callable[..., Any]


@pytest.fixture
def make_client(fake_openai: FakeOpenAI) -> Iterator[ClientFactory]:
    """Build InfraPrismOpenAI/AsyncInfraPrismOpenAI against the fake upstream; every sync
    client is closed at teardown (async tests close their own)."""
    made: list[Any] = []

    def build(*, infraprism_base_url: str, infraprism_api_key: str, **kwargs: Any) -> Any:
        cls = kwargs.pop("cls", infraprism.InfraPrismOpenAI)
        kwargs.setdefault("api_key", "sk-fake")
        kwargs.setdefault("base_url", fake_openai.base_url)
        client = cls(
            infraprism_base_url=infraprism_base_url,
            infraprism_api_key=infraprism_api_key,
            **kwargs,
        )
        made.append(client)
        return client

    yield build
    for client in made:
        if isinstance(client, infraprism.InfraPrismOpenAI):
            client.close()


@pytest.fixture
def sdk_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="infraprism")
    return caplog
