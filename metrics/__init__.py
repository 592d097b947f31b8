"""Prometheus metrics of the service itself (docs/api.md, "Metrics").

Off unless METRICS_ENABLED. prometheus-client runs in its multiprocess mode: every gunicorn
worker and Celery process writes its own files under PROMETHEUS_MULTIPROC_DIR and /metrics sums
them. That mode is chosen when prometheus_client is first imported, so nothing here imports it
at module level except definitions.py, which is only imported once settings have set the
directory (metrics/multiproc.py).
"""
