"""Settings, all from the environment (django-environ).

With no DATABASE_URL the service runs embedded: SQLite under var/ and rollups in-process after
each ingest commits. With DATABASE_URL=postgres://... and REDIS_URL it runs the production shape.
"""

from pathlib import Path

import environ

from infraprism.local_secret import local_secret_key
from metrics.multiproc import prepare_multiproc_dir

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)

# Without DJANGO_SECRET_KEY, a random key generated once per checkout under var/ (mode 600,
# never committed): the embedded default is safe without a secret in the repository.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or local_secret_key(VAR_DIR)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "infraprism",
    "ingestion",
    "lifecycle",
    "sessions.apps.LlmSessionsConfig",
    "analytics",
    "dashboard",
    "otel",
    "budgets",
    "axes",
    "csp",
]

MIDDLEWARE = [
    # First: counts every answer, those of the middleware below included (off unless
    # METRICS_ENABLED).
    "metrics.middleware.RequestMetricsMiddleware",
    # Before the body limit: chunked OTLP bodies (Node.js exporters) read whole, capped.
    "otel.middleware.ChunkedOtlpBodyMiddleware",
    "infraprism.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "infraprism.middleware.RequestLogMiddleware",
    "csp.middleware.CSPMiddleware",
    # Membership of the organization in a dashboard URL, checked once before any view runs.
    "dashboard.access.OrganizationAccessMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "infraprism.urls"
WSGI_APPLICATION = "infraprism.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
EMBEDDED_DATABASE_URL = f"sqlite:///{VAR_DIR / 'infraprism.sqlite3'}"
DATABASES = {"default": env.db_url("DATABASE_URL", default=EMBEDDED_DATABASE_URL)}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
if IS_POSTGRES:
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 5)
    # JIT compilation costs seconds on the rollup's large statement and saves nothing on the
    # short OLTP-style queries this service runs.
    DATABASES["default"]["OPTIONS"].setdefault("options", "-c jit=off")
else:
    # WAL lets readers proceed while the single writer commits; IMMEDIATE takes the write lock
    # up front so concurrent writers queue instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Data lifecycle (lifecycle/) -------------------------------------------------------------
# Days raw events are kept for organizations without their own retention_days; empty keeps
# everything. Sessions go when their last call is older than the cutoff (docs/scaling.md).
EVENT_RETENTION_DAYS = env.int("EVENT_RETENTION_DAYS", default=None)

# --- Redis, Celery, rollup scheduling ------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Embedded mode (no Redis): rollups run in-process right after each ingest commits.
ROLLUP_IN_PROCESS = env.bool("ROLLUP_IN_PROCESS", default=not REDIS_URL)
# Pending events per rollup transaction: 50,000 measured 6-8% faster per event than 20,000
# since the chunk aggregates its rows once (docs/performance.md, "Rollup, round 4").
ROLLUP_CHUNK_SIZE = env.int("ROLLUP_CHUNK_SIZE", default=50000)
ROLLUP_SWEEP_SECONDS = env.float("ROLLUP_SWEEP_SECONDS", default=2.0)
# Safety TTL of the per-organization "rollup already scheduled" marker in Redis.
ROLLUP_DEBOUNCE_SECONDS = env.int("ROLLUP_DEBOUNCE_SECONDS", default=10)
# After a Redis failure, skip Redis for this long so requests do not pay a timeout each.
REDIS_BACKOFF_SECONDS = env.float("REDIS_BACKOFF_SECONDS", default=5.0)

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 2}
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Budgets and webhooks (budgets/) -------------------------------------------------------
# Safety TTL of the per-organization "evaluation already queued" marker in Redis.
BUDGET_EVALUATE_DEBOUNCE_SECONDS = env.int("BUDGET_EVALUATE_DEBOUNCE_SECONDS", default=10)
# Beat: evaluate every organization with budgets this often (rolling windows slide with time).
BUDGET_EVALUATE_SECONDS = env.float("BUDGET_EVALUATE_SECONDS", default=60.0)
# Seconds between a failed webhook attempt and the next: Standard Webhooks' schedule, about
# 27 hours in all; the delivery fails (and its endpoint is disabled) after the last.
WEBHOOK_RETRY_DELAYS = env.list(
    "WEBHOOK_RETRY_DELAYS", cast=float, default=[5, 300, 1800, 7200, 18000, 36000, 36000]
)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# A claimed attempt whose worker died is retried after this long (above the timeout).
WEBHOOK_LEASE_SECONDS = env.float("WEBHOOK_LEASE_SECONDS", default=60.0)
# Beat: enqueue due deliveries (retries, lost enqueues, expired leases) this often.
WEBHOOK_DUE_SWEEP_SECONDS = env.float("WEBHOOK_DUE_SWEEP_SECONDS", default=5.0)
# After a secret rotation deliveries are signed with the old secret too for this long.
WEBHOOK_SECRET_ROTATION_HOURS = env.float("WEBHOOK_SECRET_ROTATION_HOURS", default=24.0)
# Endpoints on localhost / 127.0.0.1 (http allowed there); false refuses loopback entirely.
WEBHOOK_ALLOW_LOOPBACK = env.bool("WEBHOOK_ALLOW_LOOPBACK", default=True)

# --- Caches (rate limits) --------------------------------------------------------------------
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    # One file every gunicorn worker shares, so a rate limit holds across workers (a
    # per-process LocMemCache would admit the limit once per worker).
    CACHES = {
        "default": {
            "BACKEND": "infraprism.sqlite_cache.SQLiteFileCache",
            "LOCATION": env.str("CACHE_FILE", default=str(VAR_DIR / "cache.sqlite3")),
        }
    }

# --- API -------------------------------------------------------------------------------------
INGEST_RATE_LIMIT = env.str("INGEST_RATE_LIMIT", default="6000/min")
READ_RATE_LIMIT = env.str("READ_RATE_LIMIT", default="1200/min")
MAX_BODY_BYTES = env.int("MAX_BODY_BYTES", default=5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES + 1024
MAX_BATCH_EVENTS = 1000
# Concurrent small ingests (PostgreSQL) share one transaction, each answered after its commit
# (ingestion/group_commit.py). Off by default since single-statement ingests autocommit: each
# request then writes in one round trip of its own, which measured a lower p99 at the same
# throughput (docs/performance.md, "Ingest: single events", round 4).
INGEST_GROUP_COMMIT = env.bool("INGEST_GROUP_COMMIT", default=False)
# POST /v1/events accepted before Django's stack when certain to succeed (ingestion/fast_path.py,
# a WSGI wrapper in infraprism/wsgi.py); off: every request goes through Django and DRF.
INGEST_FAST_PATH = env.bool("INGEST_FAST_PATH", default=True)
# How far in the future an event timestamp may be (clock skew allowance).
MAX_FUTURE_SKEW_SECONDS = 300
API_KEY_LAST_USED_RESOLUTION_SECONDS = 60
# How long a process may reuse an API key row it looked up (revocation elsewhere takes effect
# within this many seconds; 0 disables the cache).
API_KEY_CACHE_SECONDS = env.float("API_KEY_CACHE_SECONDS", default=5.0)
# How long a process reuses an organization's price table (admin edits clear it at once in the
# process that saved them; 0 disables the cache).
PRICE_CACHE_SECONDS = env.float("PRICE_CACHE_SECONDS", default=30.0)

# --- Metrics (Prometheus, metrics/) ---------------------------------------------------------
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=False)
# When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Adds an `organization` label to the request and ingestion counters (one series per tenant).
METRICS_ORGANIZATION_LABEL = env.bool("METRICS_ORGANIZATION_LABEL", default=False)
if METRICS_ENABLED:
    # Before anything imports prometheus_client, which picks its multiprocess mode on import.
    PROMETHEUS_MULTIPROC_DIR = prepare_multiproc_dir(default=VAR_DIR / "prometheus")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["infraprism.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["infraprism.renderers.ApiJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "infraprism.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": False,
    # `format` is our own query parameter (json|csv), validated per endpoint.
    "URL_FORMAT_OVERRIDE": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "InfraPrism API",
    "DESCRIPTION": "LLM cost attribution: ingestion of per-call events and the Analytics API.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/v1",
    # The schema states every rule the server enforces (docs/decisions.md).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "infraprism.openapi.state_the_rules",
    ],
}

# --- Dashboard: members sign in with Django's auth views -------------------------------------
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses a locked-out username+address before passwords are checked.
    "dashboard.auth_backends.HttpSignInAxesBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
# Lock the pair, not the username alone: a stranger's typos cannot lock a member out everywhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=14 * 24 * 3600)

# --- Security --------------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# django-csp: scripts and styles only from our own static files (no inline scripts; page data
# reaches JavaScript through json_script). Swagger UI's page carries an inline bootstrap
# script of drf-spectacular's, so /v1/docs is left out.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/v1/docs"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# W008 (SECURE_SSL_REDIRECT off): an API must not redirect HTTP to HTTPS, since clients would
# resend their key in clear text on the first request and POST bodies do not survive a 301.
# TLS belongs to the proxy in front; SECURE_SSL_REDIRECT=true remains available.
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=["security.W008"])

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Admin and Swagger UI assets are served by the app itself (no CDN, no separate web server).
WHITENOISE_USE_FINDERS = True

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        # axes announces its configuration at INFO in every process, management commands too.
        "axes.apps": {"level": "WARNING"},
    },
}
