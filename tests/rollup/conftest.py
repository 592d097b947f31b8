import pytest

# Plain asserts in the shared helpers report their operands like asserts in test modules.
pytest.register_assert_rewrite(
    "tests.rollup.helpers", "tests.rollup.recompute", "tests.rollup.scenario_run"
)
