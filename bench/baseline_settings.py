"""Settings of the baseline server (bench/baseline_views.py): the product's, with no middleware
and only the baseline URLs."""

from infraprism.settings import *  # noqa: F403

MIDDLEWARE: list[str] = []  # type: ignore[no-redef]
ROOT_URLCONF = "bench.baseline_views"
