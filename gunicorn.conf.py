"""gunicorn settings shared by `make run`, docker-compose and the tests that start the server.

The command line still wins (`--bind`, `--workers`), so each caller sets only what differs.
Environment overrides: GUNICORN_WORKERS, GUNICORN_THREADS, GUNICORN_TIMEOUT, GUNICORN_LOG_LEVEL.
"""

import os
from pathlib import Path

from metrics import multiproc

wsgi_app = "infraprism.wsgi:application"
bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")]
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "warning")
accesslog = "-"
errorlog = "-"
# gunicorn's default format has %(u)s, the Basic-auth user, where `curl -u KEY:` would put an
# API key: leave it out.
access_log_format = '%(h)s %(l)s - %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
# Control characters from the request (ESC in a User-Agent, say) are escaped, not written raw.
logger_class = "infraprism.gunicorn_logging.AccessLogger"

# Prometheus multiprocess mode (METRICS_ENABLED): the workers inherit the directory from here.
if os.environ.get("METRICS_ENABLED", "").lower() in ("1", "true", "yes", "y", "on", "ok"):
    _metrics_dir = multiproc.prepare_multiproc_dir(default=Path(__file__).parent / "var/prometheus")

    def on_starting(server: object) -> None:
        multiproc.remove_dead_process_files(_metrics_dir)

    def child_exit(server: object, worker: object) -> None:
        multiproc.worker_exited(worker.pid)  # type: ignore[attr-defined]
