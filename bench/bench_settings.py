"""Settings of the server under test: the product's, plus a urlconf with the naive endpoint."""

from infraprism.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bench_urls"
