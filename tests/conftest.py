"""Shared fixtures: organizations, API keys, HTTP clients bound to a key, the rollup."""

import importlib
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps as django_apps
from rest_framework.test import APIClient

from infraprism.models import ApiKey, Organization
from infraprism.services import api_key_create, organization_create
from ingestion.models import ModelPrice
from sessions.services import session_rollup_drain


class KeyClient(APIClient):
    """An APIClient that sends one API key and knows it."""

    def __init__(self, key: str, organization: Organization, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key = key
        self.organization = organization
        self.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    def post_json(self, path: str, body: Any) -> Any:
        return self.post(path, body, format="json")


@pytest.fixture(autouse=True)
def _shipped_list_prices(request: Any, django_db_blocker: Any) -> None:
    """Transactional tests flush every table, the shipped price rows included: put them back
    for any test that touches the database."""
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(
        request.fixturenames
    )
    if not uses_db:
        return
    with django_db_blocker.unblock():
        if not ModelPrice.objects.filter(organization=None).exists():
            migration = importlib.import_module("ingestion.migrations.0003_list_prices")
            migration.load(django_apps, None)


@pytest.fixture(autouse=True)
def _test_defaults(settings: Any) -> None:
    # Rate-limit tests turn them back on explicitly.
    settings.INGEST_RATE_LIMIT = "off"
    settings.READ_RATE_LIMIT = "off"
    # Tests change keys and organizations behind the API's back; test_api_key_cache.py covers
    # the cache itself.
    settings.API_KEY_CACHE_SECONDS = 0
    settings.PRICE_CACHE_SECONDS = 0


@pytest.fixture
def make_org(db: None) -> Callable[..., Organization]:
    counter = iter(range(1_000_000))

    def make(slug: str | None = None, name: str | None = None) -> Organization:
        slug = slug or f"org-{next(counter)}"
        return organization_create(slug=slug, name=name or slug.title())

    return make


@pytest.fixture
def org(make_org: Callable[..., Organization]) -> Organization:
    return make_org("acme")


@pytest.fixture
def other_org(make_org: Callable[..., Organization]) -> Organization:
    return make_org("globex")


@pytest.fixture
def make_key(db: None) -> Callable[..., tuple[ApiKey, str]]:
    def make(
        organization: Organization, scopes: tuple[str, ...] = ApiKey.SCOPES, **kwargs: Any
    ) -> tuple[ApiKey, str]:
        return api_key_create(
            organization=organization,
            name=kwargs.pop("name", "test"),
            scopes=list(scopes),
            **kwargs,
        )

    return make


@pytest.fixture
def api_key(org: Organization, make_key: Callable[..., tuple[ApiKey, str]]) -> str:
    return make_key(org)[1]


@pytest.fixture
def client_for(make_key: Callable[..., tuple[ApiKey, str]]) -> Callable[..., KeyClient]:
    def make(organization: Organization, scopes: tuple[str, ...] = ApiKey.SCOPES) -> KeyClient:
        return KeyClient(make_key(organization, scopes)[1], organization)

    return make


@pytest.fixture
def client(org: Organization, client_for: Callable[..., KeyClient]) -> KeyClient:
    return client_for(org)


@pytest.fixture
def other_client(other_org: Organization, client_for: Callable[..., KeyClient]) -> KeyClient:
    return client_for(other_org)


@pytest.fixture
def rollup() -> Callable[[], Any]:
    """Drain pending events into aggregates, as the worker would."""
    return lambda: session_rollup_drain()
