"""gunicorn settings shared by `make run`, docker-compose and the tests that start the server.

The command line still wins (`--bind`, `--workers`), so each caller sets only what differs.
Environment overrides: GUNICORN_WORKERS, GUNICORN_THREADS, GUNICORN_TIMEOUT, GUNICORN_LOG_LEVEL.
"""

import os

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
