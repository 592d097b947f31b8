"""The embedded default (SQLite, in-process rollups) keeps the same aggregates as PostgreSQL.

SQLite cannot share the PostgreSQL test database, so scenario.py runs in a process of its own
on a fresh SQLite file; its output must equal the hand-computed EXPECTED of scenario_data.py.
"""

from pathlib import Path

from tests.rollup.scenario_run import assert_scenario_result, scenario_run


def test_sqlite_rollup_follows_the_rules(tmp_path: Path) -> None:
    result = scenario_run(f"sqlite:///{tmp_path / 'embedded.sqlite3'}")
    assert_scenario_result(result)
