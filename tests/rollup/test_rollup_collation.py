"""Aggregates do not depend on the database's collation.

The official postgres image initialises its cluster with en_US.utf8, where "Gemini" sorts
between "claude" and "gpt"; the test server here uses C.UTF-8. The rollup must give the same,
code-point-sorted `models` (as SQLite and a recomputation do) on both. scenario.py runs on a
fresh database created with an ICU en-US collation.
"""

from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection

from tests.rollup.helpers import database_url_for_subprocess
from tests.rollup.scenario_run import assert_scenario_result, scenario_run

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="collations of PostgreSQL databases"
)


def _admin(dbname: str) -> psycopg.Connection:
    s = connection.settings_dict
    return psycopg.connect(
        dbname=dbname,
        user=s["USER"] or None,
        password=s["PASSWORD"] or None,
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or None,
        autocommit=True,
    )


@pytest.fixture
def icu_database_url(django_db_setup: None) -> Iterator[str]:
    name = f"{connection.settings_dict['NAME']}_icu"  # beside this run's own test database
    with _admin("postgres") as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        try:
            admin.execute(
                f'CREATE DATABASE "{name}" TEMPLATE template0 '
                "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        except psycopg.Error as exc:
            pytest.skip(f"no ICU collations on this server: {exc}")
    try:
        yield database_url_for_subprocess().rsplit("/", 1)[0] + f"/{name}"
    finally:
        with _admin("postgres") as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_rollup_on_an_en_us_collated_database_follows_the_rules(icu_database_url: str) -> None:
    assert_scenario_result(scenario_run(icu_database_url))
