"""Django settings for the OMS, read from the environment (django-environ).

Defaults give a working local install with nothing else running: SQLite in ``var/`` and
Celery's filesystem broker. ``DATABASE_URL`` switches to PostgreSQL, ``REDIS_URL`` (or
``CELERY_BROKER_URL``) to Redis. Every variable is listed in ``.env.example``.
"""

import datetime as dt
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(environ.Env().str("OMS_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

# Fail closed: DEBUG only when asked for (scripts/run asks). Without DEBUG, the web
# processes (oms.config.wsgi, oms.config.asgi) refuse to start unless the secret key and the host names are
# given (``oms.config.production.refuse_unconfigured_start``); management commands still run, so that
# tooling such as ``makemigrations --check`` works without a deployment's secrets.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
MISSING_PRODUCTION_SETTINGS = [name for name in ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS")
                               if not env.str(name, default="")]
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-only-insecure-key-change-me")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# HTTPS (on by default without DEBUG; turn off only behind a proxy that terminates TLS and
# redirects by itself). SECURE_PROXY_SSL_HEADER: set DJANGO_SECURE_PROXY_SSL_HEADER=true when
# a trusted proxy sends X-Forwarded-Proto.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# Preloading is a commitment of the whole domain that the deployer makes (hstspreload.org),
# so it is off by default and its deploy-check reminder silenced.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The health probes and the metrics answer over plain HTTP (load balancers and Prometheus
# call them on the private side).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

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
    "django_htmx",
    "django_prometheus",
    "axes",
    "oms",
    "locations",
    "packages",
    "transfers",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # /healthz, /readyz, /metrics: answered here, before the host check (probes call by address)
    "oms.observability.middleware.OpsEndpointsMiddleware",
    "oms.api.middleware.LengthRequiredMiddleware",
    # request counts and latencies by view (django-prometheus); its pair closes the list
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Serves static files (admin, operator CSS, htmx) from gunicorn too, without a web server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Language from the session's or cookie's choice, else Accept-Language (needs the session).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After the user is known: the operator's stored language and time zone; English for /api/.
    "oms.preferences.middleware.OperatorPreferenceMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "oms.config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

WSGI_APPLICATION = "oms.config.wsgi.application"

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'oms.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for the writer instead of failing at once: web, worker and beat share the file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    # PostgreSQL through psycopg 3, with Django's connection pool (psycopg_pool) per process:
    # a request, task or relay batch borrows a connection and gives it back at its end.
    # DATABASE_POOL=false goes back to one connection per thread, kept DATABASE_CONN_MAX_AGE
    # seconds (Django refuses a pool together with kept connections). The pool only has to
    # cover the threads of one process that use the database at once (gunicorn --threads,
    # a threaded Celery worker's --concurrency, runserver's request threads); a thread finding
    # all MAX_SIZE in use waits up to TIMEOUT seconds, then fails (psycopg_pool.PoolTimeout).
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    if env.bool("DATABASE_POOL", default=True):
        _options.setdefault("pool", {
            "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
            "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
            "timeout": env.float("DATABASE_POOL_TIMEOUT_SECONDS", default=10.0),
        })
        DATABASES["default"]["CONN_MAX_AGE"] = 0
    else:
        DATABASES["default"].setdefault(
            "CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    # A connection the server dropped (restart, failover, pg_terminate_backend) is replaced
    # before a request or task uses it (one SELECT 1 each time): with the pool, when it is
    # borrowed (psycopg_pool's check, which pauses 1 s, 2 s, 4 s … between dead idle
    # connections, up to TIMEOUT); without, when a kept one is reused.
    DATABASES["default"].setdefault(
        "CONN_HEALTH_CHECKS", env.bool("DATABASE_CONN_HEALTH_CHECKS", default=True))
    # Parameters travel apart from the SQL text (extended protocol, as $1, $2 …): lists go as
    # PostgreSQL arrays, and psycopg prepares a statement on a connection once it has run
    # PREPARE_THRESHOLD times there (psycopg's default 5; "off" never prepares). Both work
    # unchanged behind pgbouncer >= 1.21 in transaction pooling mode with
    # max_prepared_statements > 0 (it follows protocol-level prepared statements from one
    # server connection to the next); older pgbouncer: DATABASE_PREPARE_THRESHOLD=off.
    _options.setdefault("server_side_binding",
                        env.bool("DATABASE_SERVER_SIDE_BINDING", default=True))
    _threshold = env.str("DATABASE_PREPARE_THRESHOLD", default="5").strip().lower()
    _options.setdefault("prepare_threshold", None if _threshold in ("", "off") else int(_threshold))
    # Server-side cursors stay on (no DISABLE_SERVER_SIDE_CURSORS): the CSV exports
    # (oms.csv_export) read their rows from one inside a transaction, which also keeps it on one
    # server connection behind pgbouncer in transaction pooling mode.

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Operator screens in English and Turkish (locale/, see README "Translations"); the API
# always answers in English (oms.preferences.middleware).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("tr", "Türkçe")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
# IANA zone of a new stock location (operator screens show its times in its zone).
OMS_DEFAULT_LOCATION_TIME_ZONE = env.str("OMS_DEFAULT_LOCATION_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise reads it at start-up
WHITENOISE_USE_FINDERS = DEBUG  # development: serve app static files without collectstatic
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
                    if not DEBUG else "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGIN_URL = "login"

# --- Login throttling (django-axes) ------------------------------------------------------------
# The operator login (/login/) and the admin login (/admin/login/) count failed attempts per
# user name and client address together (a wrong password from one address does not lock the
# user out elsewhere). After LOGIN_FAILURE_LIMIT failures that user may not log in from that
# address, even with the right password, until LOGIN_LOCKOUT_MINUTES have passed since the
# last failure (the lockout page, HTTP 429); a successful login clears the count. Attempts
# are rows in the database (admin → Axes; ``manage.py axes_reset_username NAME`` unlocks).
# The API is not concerned: tokens never pass through ``authenticate()``.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.float("LOGIN_LOCKOUT_MINUTES", default=15.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "oms.api.throttling.client_address"
# Proxies in front of the web server that append the address they saw to X-Forwarded-For
# (a load balancer: 1). 0: the client address is the connection's (REMOTE_ADDR), and
# X-Forwarded-For, which any client can write, is ignored. Login lockout and API throttles
# both take the address this way (``oms.api.throttling.client_address``).
OMS_TRUSTED_PROXY_COUNT = env.int("OMS_TRUSTED_PROXY_COUNT", default=0)

# --- REST API (issue 5 owns this block) ---------------------------------------------------
# Integrators authenticate with ``Authorization: Bearer <key>`` or ``Token <key>``
# (oms.api.models.ApiToken); JSON only; every list is cursor-paginated by id; errors are
# {"code", "detail", ...} (oms/api/errors.py).
REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "oms.api.errors.exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": ["oms.api.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["oms.api.permissions.IsApiClient", "oms.api.permissions.TokenCanWrite"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["oms.api.filters.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["oms.api.filters.FilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "oms.api.pagination.IdCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "oms.api.schema.OmsAutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_THROTTLE_CLASSES": ["oms.api.throttling.TokenRateThrottle"],
    "NUM_PROXIES": OMS_TRUSTED_PROXY_COUNT,
}


def _throttle_rate(name: str, default: str) -> str | None:
    """Read a DRF rate (``"1200/minute"``: a count per second, minute, hour or day); ``off``
    or empty: no limit."""
    rate = env.str(name, default=default).strip().lower()
    if rate in ("", "off"):
        return None
    count, _, period = rate.partition("/")
    if not (count.isascii() and count.isdigit() and period[:1] in ("s", "m", "h", "d")):
        raise ImproperlyConfigured(f"{name}={rate!r}: give a count per period, e.g. 1200/minute, or off")
    return rate


# Requests per token (429 ``throttled`` with Retry-After beyond it), and requests without a
# valid token (no or a wrong Authorization header) per client address. Counted in the
# default cache (CACHES below); a cache that fails lets requests through (logged).
API_THROTTLE_RATE = _throttle_rate("API_THROTTLE_RATE", "1200/minute")
API_UNAUTHENTICATED_THROTTLE_RATE = _throttle_rate("API_UNAUTHENTICATED_THROTTLE_RATE", "60/minute")
# The largest request body, in bytes (Django's default, 2.5 MiB; above it the API answers 413
# request_too_large): 1,000 bulk entries (one item each) or stock rows at their longest fit
# (oms/tests/test_api_errors.py).
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# The most form or query parameters a request may send (Django's default is 1,000; above it a
# 400): the package list's bulk form with all BULK_MAX (1,000) rows selected plus its other
# fields (action, filters, the action's input) fits (packages/tests/test_views_bulk.py).
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1_100
SPECTACULAR_SETTINGS = {
    "TITLE": "OMS API",
    "DESCRIPTION": (
        "Packages, transfers and stock for integrators. Authenticate with "
        "`Authorization: Bearer <key>`. Every state change is an action "
        "(`POST …/actions/{action}/`, one endpoint per action an API token may run); send "
        "`Idempotency-Key` to retry safely and `If-Match` with the ETag to act only on the "
        "version you saw. Every error is `{\"code\", \"detail\", \"errors\"?: {field: [message]}, …}`. "
        "Events come as webhooks (below) or from the ordered feed `GET /api/v1/events/`."
    ),
    "VERSION": "1.0.0",
    # OpenAPI 3.1: the webhooks' payloads are part of the schema.
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    "ENUM_NAME_OVERRIDES": {
        "PackageStatusCodeEnum": "packages.models.Status",
        "PackageStatusSlugEnum": "packages.events.PACKAGE_STATUS_SLUGS",
        "PackageActionEnum": "packages.api.serializers.PACKAGE_API_ACTIONS",
        "PackageAnyActionEnum": "packages.actions.ACTIONS",
        "PackageLogActionEnum": "packages.events.PACKAGE_LOG_ACTIONS",
        "PackageEventTypeEnum": "packages.events.PACKAGE_ENVELOPE_TYPES",
        "PackageStatusTypeEnum": "packages.events.PACKAGE_STATUS_TYPES",
        "DeliveryTypeEnum": "packages.models.Package.DeliveryType",
        "TransferStatusEnum": "transfers.models.Status",
        "TransferActionEnum": "transfers.actions.ACTIONS",
        "TransferLogActionEnum": "transfers.events.TRANSFER_LOG_ACTIONS",
        "TransferEventTypeEnum": "transfers.events.TRANSFER_ENVELOPE_TYPES",
        "TransferStatusTypeEnum": "transfers.events.TRANSFER_STATUS_TYPES",
        "StockLocationEventTypeEnum": "locations.services.STOCK_LOCATION_EVENT_TYPES",
        "StockLocationKindEnum": "locations.models.StockLocation.Kind",
        "OutOfStockKindEnum": ["out_of_stock"],
        "TransfersKindEnum": ["transfers"],
        "NeedsNewLocationKindEnum": ["needs_new_location"],
        "CancellationRequestedKindEnum": ["cancellation_requested"],
        "PackageEntityEnum": ["package"],
        "TransferEntityEnum": ["transfer"],
    },
    "WEBHOOKS": [
        f"oms.config.api_schema.WEBHOOK_{name}" for name in (
            "PACKAGE_CREATED", "PACKAGE_TRANSITIONED", "TRANSFER_CREATED", "TRANSFER_TRANSITIONED",
            "STOCK_LOCATION_CREATED", "STOCK_LOCATION_UPDATED")
    ],
}

# --- Operator web UI (issue 4 owns this block) ------------------------------------------------
LOGIN_REDIRECT_URL = "packages:movements"
LOGOUT_REDIRECT_URL = "login"
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Celery -------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or None)
if CELERY_BROKER_URL == "filesystem://":
    _queue_dir = VAR_DIR / "celery-queue"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery-processed"),
        "control_folder": str(VAR_DIR / "celery-control"),
        "store_processed": False,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT_SECONDS", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT_SECONDS", default=240)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Outbox relay (python manage.py outbox_relay): rows claimed per transaction, and the pause
# after the outbox was found empty (the only wait between a commit and its hand-off).
OUTBOX_RELAY_BATCH = env.int("OUTBOX_RELAY_BATCH", default=500)
OUTBOX_RELAY_POLL_SECONDS = env.float("OUTBOX_RELAY_POLL_SECONDS", default=0.1)
# A hung broker or result store (a frozen Redis: the connection stays open, nothing answers)
# fails a call after this many seconds instead of blocking it forever. Only the relay,
# workers and beat talk to the broker; no web request waits on it (web processes use Redis
# only as the cache of the API rate limits, below, which fails open).
BROKER_SOCKET_TIMEOUT_SECONDS = env.float("BROKER_SOCKET_TIMEOUT_SECONDS", default=3.0)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_timeout": BROKER_SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": BROKER_SOCKET_TIMEOUT_SECONDS,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_SOCKET_TIMEOUT_SECONDS
CELERY_REDIS_SOCKET_TIMEOUT = BROKER_SOCKET_TIMEOUT_SECONDS
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = BROKER_SOCKET_TIMEOUT_SECONDS
# A publish is retried at most twice (about one second) before it raises to the caller.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5,
                                    "interval_max": 0.5}
# Nothing reads task results; without this every .delay() also subscribes to its result key
# on the result store (one more call that can hang).
CELERY_TASK_IGNORE_RESULT = True
# Three queues so a backlog of one kind never starves another: "celery" (other jobs),
# "stock" (re-checks of out-of-stock packages), "webhooks" (HTTP deliveries). A worker
# started without -Q consumes all three, in turn; production may dedicate workers with -Q.
CELERY_TASK_QUEUES = (Queue("celery"), Queue("stock"), Queue("webhooks"))
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "packages.tasks.*": {"queue": "stock"},
    "oms.tasks.webhook_*": {"queue": "webhooks"},
}
# Every entry must name a registered task (packages/tests/test_rescheduling.py). UTC.
CELERY_BEAT_SCHEDULE = {
    # Finds each brand's out-of-stock packages whose next check is due; the brand's own
    # interval (editable in admin, read at every run) sets that due time.
    "package-recheck-due": {
        "task": "packages.tasks.package_recheck_due_task",
        "schedule": env.float("RECHECK_BEAT_SECONDS", default=60.0),
    },
    "idempotency-purge": {
        "task": "oms.tasks.idempotency_records_purge_task",
        "schedule": 24 * 3600.0,
    },
    "webhook-retry-due": {
        "task": "oms.tasks.webhook_retry_due_task",
        "schedule": env.float("WEBHOOK_RETRY_BEAT_SECONDS", default=15.0),
    },
    # Beat stamps its heartbeat in the database as it sends this (oms/observability/heartbeat.py);
    # a copy no worker took within one interval is dropped.
    "beat-heartbeat": {
        "task": "oms.tasks.beat_heartbeat_task",
        "schedule": env.float("BEAT_HEARTBEAT_SECONDS", default=30.0),
        "options": {"expires": env.float("BEAT_HEARTBEAT_SECONDS", default=30.0)},
    },
}

# --- Cache: API rate-limit counters ----------------------------------------------------------
# Shared by every process of the site: Redis (its own key prefix) when CACHE_URL or REDIS_URL
# is set, else files in var/cache (one machine). Any URL django-environ knows works
# (redis://, rediss://, filecache:///path, dbcache://table, …). A call to a Redis that is down
# or hung fails after CACHE_SOCKET_TIMEOUT_SECONDS and the request goes on unthrottled.
CACHE_SOCKET_TIMEOUT_SECONDS = env.float("CACHE_SOCKET_TIMEOUT_SECONDS", default=0.25)
_cache_url = env.str("CACHE_URL", default="") or REDIS_URL or f"filecache://{VAR_DIR / 'cache'}"
CACHES = {"default": {**env.cache_url_config(_cache_url), "KEY_PREFIX": "oms"}}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["OPTIONS"] = {
        "socket_timeout": CACHE_SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": CACHE_SOCKET_TIMEOUT_SECONDS,
    }

# --- Webhooks (issue 7) --------------------------------------------------------------------
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Webhook targets trusted without the public-address check (tests, internal hosts): "host"
# (ports 80 and 443) or "host:port" (that port too; other ports are refused), comma-separated.
WEBHOOK_ALLOWED_HOSTS = env.list("WEBHOOK_ALLOWED_HOSTS", default=[])
# An endpoint failing with no success for this long is paused; its deliveries wait for resume.
WEBHOOK_PAUSE_AFTER_FAILING_SECONDS = env.int("WEBHOOK_PAUSE_AFTER_FAILING_SECONDS", default=3600)
# Runs of webhook_retry_due_task sending a backlog in parallel (at most; one per 100 due).
WEBHOOK_RETRY_CONCURRENCY = env.int("WEBHOOK_RETRY_CONCURRENCY", default=4)
WEBHOOK_RETRY_BEAT_SECONDS = CELERY_BEAT_SCHEDULE["webhook-retry-due"]["schedule"]

# --- Operations: /healthz, /readyz, /metrics (oms/observability) ---------------------------
# /readyz reports beat down once its heartbeat is older than this (default: three heartbeats).
BEAT_HEARTBEAT_MAX_AGE_SECONDS = env.float(
    "BEAT_HEARTBEAT_MAX_AGE_SECONDS", default=3 * CELERY_BEAT_SCHEDULE["beat-heartbeat"]["schedule"])
# /metrics answers a request with "Authorization: Bearer <METRICS_TOKEN>" or from an address
# (or network) of METRICS_ALLOWED_IPS; with neither set it answers 404 (metrics off).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
