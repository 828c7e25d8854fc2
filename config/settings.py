"""Audit Trail settings: environment-driven, with safe defaults for a first local run.

Every knob is an environment variable (see the README's configuration table).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in (os.environ.get(name) or default).split(",") if item.strip()]


def env_secret(name: str, default: str = "") -> str:
    """Read NAME, or the file named by NAME_FILE (for Docker/Kubernetes secrets)."""
    if path := os.environ.get(f"{name}_FILE"):
        try:
            return Path(path).read_text().strip()
        except OSError as error:
            raise ImproperlyConfigured(f"{name}_FILE={path} cannot be read: {error.strerror}.") from None
    return os.environ.get(name) or default


DEBUG = env_bool("DEBUG", False)
# Only ever used with DEBUG=1 (`make run` and scripts/serve set it): a key everyone can read.
DEV_SECRET_KEY = "insecure-dev-key-change-me"
SECRET_KEY = env_secret("SECRET_KEY").strip() or (DEV_SECRET_KEY if DEBUG else "")
if not DEBUG and (not SECRET_KEY or SECRET_KEY == DEV_SECRET_KEY or SECRET_KEY.startswith("django-insecure")):
    # Sessions, CSRF tokens and password-reset links are signed with it: with a public key anyone
    # could forge a session. Refuse to start rather than run on one.
    raise ImproperlyConfigured(
        "SECRET_KEY is not set (or is a well-known development key) and DEBUG is off. Set SECRET_KEY, "
        "or SECRET_KEY_FILE naming a file that holds it, to a long random value, e.g. the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`. For local development "
        "only, set DEBUG=1 instead."
    )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")


def local_site_url(host: str, port: str) -> str:
    """Where `make run` (scripts/serve, on HOST:PORT) can be reached: the machine's name when it
    listens on every address, an IPv6 address in brackets."""
    host = host.strip("[]") or "127.0.0.1"
    if host in {"0.0.0.0", "::"}:
        host = socket.gethostname()
    return f"http://{f'[{host}]' if ':' in host else host}:{port or '8000'}"


# The base of the links in e-mails. Set it in production; unset, it follows HOST and PORT.
SITE_URL = (
    os.environ.get("SITE_URL") or local_site_url(os.environ.get("HOST", ""), os.environ.get("PORT", ""))
).rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.forms",  # its widget templates, for FORM_RENDERER below
    "django_filters",
    "django_tables2",
    "django_htmx",
    # Before django_tasks_db: its `db_worker` command (which takes up dead workers' tasks) wins.
    "worker",
    "django_tasks_db",
    "iam",
    "audit",
    "alerts",
    "exports",
    "integrity",
    "metrics",
    "demo",
]

MIDDLEWARE = [
    # Outermost: times and counts every request, those another middleware answers included.
    "metrics.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "iam.middleware.RequestIdMiddleware",
    # A database that is read-only, locked or down answers 503 + Retry-After, never 500.
    "api.faults.DatabaseFaultMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "iam.middleware.HtmxLoginRedirectMiddleware",
    "iam.middleware.OrganizationMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
# The Scaleway API has no trailing slashes and the SDK refuses to add one.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "iam.context_processors.console",
            ],
        },
    },
]
# Widgets render with the project's templates, so `templates/django/forms/` can override Django's:
# its select.html prints each <option> in the loop instead of two template includes per option.
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

# Bounds on every statement and lock wait of the web process and the worker (0: none), so that
# a locked table or a runaway query answers 503 instead of holding a worker until it clears.
DB_STATEMENT_TIMEOUT_MS = env_int("DB_STATEMENT_TIMEOUT_MS", 30_000)
DB_LOCK_TIMEOUT_MS = env_int("DB_LOCK_TIMEOUT_MS", 5_000)
# PostgreSQL's memory per sort, hash or bitmap of a query; empty: the server's own (4 MB by default).
DB_WORK_MEM = os.environ.get("DB_WORK_MEM", "16MB").strip()
if DB_WORK_MEM and not re.fullmatch(r"\d+(kB|MB|GB)", DB_WORK_MEM):
    raise ImproperlyConfigured(f"DB_WORK_MEM must be a size such as 16MB, not {DB_WORK_MEM!r}.")


MULTI_HOST_RE = re.compile(r"^(?P<head>[^:/]+://(?:[^@/]*@)?)(?P<hosts>[^/?#]*,[^/?#]*)(?P<tail>.*)$")


def split_hosts(url: str) -> tuple[str, str, str]:
    """A libpq multi-host URL (postgres://user@host1:port1,host2:port2/db?...) as the URL with its
    first host only (dj_database_url reads one), and the comma-separated hosts and ports that
    libpq takes as `host` and `port`. A one-host URL comes back as it is, with no lists."""
    match = MULTI_HOST_RE.match(url)
    if match is None:
        return url, "", ""
    hosts, ports = [], []
    for item in match["hosts"].split(","):
        host, port = (item.rsplit(":", 1) + [""])[:2] if not item.endswith("]") else (item, "")
        if host.startswith("[") and not host.endswith("]"):  # "[::1" of "[::1]" without a port
            host, port = item, ""
        hosts.append(host.strip("[]"))
        ports.append(port or "5432")
    return match["head"] + match["hosts"].split(",")[0] + match["tail"], ",".join(hosts), ",".join(ports)


def database_config(url: str, *, bounded: bool) -> dict[str, Any]:
    """One alias's settings from its URL. A PostgreSQL URL may name several hosts (libpq's
    multi-host syntax) with `target_session_attrs`: `read-write` finds the primary after a
    failover, `prefer-standby` a standby (DATABASE_REPLICA_URL)."""
    single, hosts, ports = split_hosts(url)
    config: dict[str, Any] = dict(dj_database_url.parse(single, conn_max_age=env_int("CONN_MAX_AGE", 0)))
    # A connection that died (a failover, a restarted server) is replaced at the next request,
    # not found broken by the request's first query.
    config["CONN_HEALTH_CHECKS"] = True
    if hosts:
        config["HOST"], config["PORT"] = hosts, ports
    if config["ENGINE"] == "django.db.backends.postgresql":
        options = config.setdefault("OPTIONS", {})
        options["application_name"] = "audit-trail"
        server: list[str] = []
        # Console and API queries are short and index-driven; JIT compilation only adds latency to
        # the few wide scans (free text or CIDR over 30 days). Set PG_JIT=1 to let PostgreSQL decide.
        if not env_bool("PG_JIT", False):
            server.append("-c jit=off")
        if bounded:
            server.append(f"-c statement_timeout={DB_STATEMENT_TIMEOUT_MS}")
            server.append(f"-c lock_timeout={DB_LOCK_TIMEOUT_MS}")
            # A search's counts AND a month of an organization's index entries with the trigram
            # matches in a bitmap: in PostgreSQL's default 4 MB it turns lossy and every row of
            # the lossy pages is checked again (5 s instead of 0.6 s at 10 M events).
            if DB_WORK_MEM:
                server.append(f"-c work_mem={DB_WORK_MEM}")
        if server:
            options["options"] = " ".join(server)
    else:
        # SQLite: let the web server and the task worker share the file without "database is locked".
        config.setdefault("OPTIONS", {}).update(
            {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
        )
    return config


# DATABASE_URL is the role the web process and the worker run as. In production it owns nothing
# and may only append events (`manage.py create_runtime_role`); DATABASE_OWNER_URL, the tables'
# owner, is the `owner` alias that migrate and ensure_partitions use by default (audit.database).
# A set-but-empty DATABASE_URL must not fall through to Django's dummy backend.
DATABASES = {
    "default": database_config(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}", bounded=True
    )
}
if owner_url := os.environ.get("DATABASE_OWNER_URL"):
    # Unbounded: a migration or a month's partition must not be cut by the runtime's timeout.
    DATABASES["owner"] = database_config(owner_url, bounded=False) | {"TEST": {"MIRROR": "default"}}
if replica_url := os.environ.get("DATABASE_REPLICA_URL"):
    # Heavy reads (core.replication): a standby, `target_session_attrs=prefer-standby` over the
    # same hosts as DATABASE_URL. A short connect timeout: a dead standby costs the read little
    # before it falls back to the primary. Tests read the default database through it.
    DATABASES["replica"] = database_config(replica_url, bounded=True) | {"TEST": {"MIRROR": "default"}}
    DATABASES["replica"]["OPTIONS"].setdefault(
        "connect_timeout", env_int("DATABASE_REPLICA_CONNECT_TIMEOUT", 2)
    )
# Data migrations that forget `.using()` still run as the owner under `migrate` (audit.database);
# nothing is written to, or migrated on, the replica (core.replication).
DATABASE_ROUTERS = ["audit.database.OwnerRouter", "core.replication.ReplicaRouter"]
# The events' covering indexes carry status_code for PostgreSQL's index-only scans; SQLite ignores
# the non-key column and uses the index without it, which is all a first run needs. Django warns of
# that once per index of the model (models.W040, five times over) on every command: silenced.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "iam.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves the static files straight from the source tree, looked up at each request,
# under DEBUG and under `make run` (scripts/serve sets STATIC_FROM_SOURCE=1 with DEBUG off);
# production serves what collectstatic gathered into STATIC_ROOT.
WHITENOISE_AUTOREFRESH = WHITENOISE_USE_FINDERS = env_bool("STATIC_FROM_SOURCE", DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("STATIC_MANIFEST", False)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Background work: Django's tasks framework on the database (worker: manage.py db_worker).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
# Each worker beats every TASKS_WORKER_HEARTBEAT seconds; the RUNNING tasks of a worker silent for
# TASKS_WORKER_TIMEOUT seconds (killed, or its machine gone) are queued again.
TASKS_WORKER_HEARTBEAT = env_int("TASKS_WORKER_HEARTBEAT", 5)
TASKS_WORKER_TIMEOUT = env_int("TASKS_WORKER_TIMEOUT", 60)
# Every TASKS_WORKER_SWEEP_INTERVAL seconds each worker runs these, which enqueue again the work
# whose task was lost (an e-mail left pending or half-sent by a dead worker).
TASKS_WORKER_SWEEP_INTERVAL = env_int("TASKS_WORKER_SWEEP_INTERVAL", 60)
TASKS_WORKER_SWEEPS = [
    "alerts.tasks.alert_notifications_sweep",
    "iam.tasks.invitation_emails_sweep",
    "exports.tasks.export_jobs_due_sweep",
    "integrity.tasks.seal_sweep",
    "integrity.tasks.retention_sweep",
]
# Sealing (docs/integrity.md): every event is in its organization's signed Merkle tree within
# INTEGRITY_SEAL_INTERVAL seconds (its own task seals it at once; a sweep catches a lost task, as
# often as the workers' sweeps run). Heads are signed with the Ed25519 key INTEGRITY_SIGNING_KEY (a
# PKCS#8 PEM), else the key in the file INTEGRITY_SIGNING_KEY_FILE, created on first use.
INTEGRITY_SEAL_INTERVAL = env_int("INTEGRITY_SEAL_INTERVAL", 60)
INTEGRITY_SEAL_ON_RECORD = True
# Retention (docs/integrity.md): the purge of events past their organization's retention (90 days
# unless set) runs every INTEGRITY_PURGE_INTERVAL seconds, as the owner (DATABASE_OWNER_URL).
INTEGRITY_PURGE_INTERVAL = env_int("INTEGRITY_PURGE_INTERVAL", 3600)
INTEGRITY_SIGNING_KEY = os.environ.get("INTEGRITY_SIGNING_KEY", "")
INTEGRITY_SIGNING_KEY_FILE = os.environ.get("INTEGRITY_SIGNING_KEY_FILE") or str(
    BASE_DIR / ".run" / "integrity-signing-key.pem"
)
# A custom alert rule may spend this many seconds of CEL on one batch of events; past it, it is
# switched off with the reason shown, so that one costly rule never stalls the shared queue.
ALERT_RULE_TIME_BUDGET = float(os.environ.get("ALERT_RULE_TIME_BUDGET") or 2)

# The cache holds the login throttle and the API rate limit, so it must be one store that every
# web process shares: the database (its table comes with `migrate`), or Redis when REDIS_URL is
# set. A per-process cache would let each gunicorn worker count on its own.
CACHES = {
    "default": {
        "BACKEND": "iam.cache.DatabaseCache",  # Django's, with an atomic incr
        "LOCATION": "audit_trail_cache",  # iam.cache.CACHE_TABLE, created by iam's cache_table migration
        # Culling past MAX_ENTRIES drops live keys too: keep it well above the live counters.
        "OPTIONS": {"MAX_ENTRIES": env_int("CACHE_MAX_ENTRIES", 100_000)},
    }
}
if redis_url := os.environ.get("REDIS_URL"):
    CACHES["default"] = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}

# `/metrics` (Prometheus' text format) is closed unless one of these is set: METRICS_TOKEN, a bearer
# token the scraper sends (METRICS_TOKEN_FILE for a secret file), and/or METRICS_ALLOWED_IPS, the
# addresses or networks it scrapes from (as seen behind TRUSTED_PROXIES). Both set: both are needed.
METRICS_TOKEN = env_secret("METRICS_TOKEN").strip()
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured(
        "METRICS_TOKEN is too short to guard the metrics: use 16 characters or more, e.g. the output "
        "of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
    )


def _networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [ipaddress.ip_network(item, strict=False) for item in env_list(name)]
    except ValueError as error:
        raise ImproperlyConfigured(f"{name}: {error}") from None


METRICS_ALLOWED_NETWORKS = _networks("METRICS_ALLOWED_IPS")
# Collectors other apps add to `/metrics` (dotted paths to classes with describe() and collect()):
# sealing's lag (integrity.metrics) by default.
METRICS_COLLECTORS: list[str] = env_list("METRICS_COLLECTORS", "integrity.metrics.SealingCollector")

# Outgoing e-mail (alert notifications): Django 6.1 mailers, SMTP by default.
EMAIL_BACKEND_PATH = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
MAILERS: dict[str, dict[str, Any]] = {"default": {"BACKEND": EMAIL_BACKEND_PATH}}
if EMAIL_BACKEND_PATH.endswith("smtp.EmailBackend"):
    # Only the SMTP backend takes connection options; the console and file backends refuse them.
    MAILERS["default"]["OPTIONS"] = {
        "host": os.environ.get("EMAIL_HOST", "localhost"),
        "port": env_int("EMAIL_PORT", 25),
        "username": os.environ.get("EMAIL_HOST_USER", ""),
        "password": env_secret("EMAIL_HOST_PASSWORD"),
        "use_tls": env_bool("EMAIL_USE_TLS", False),
        "timeout": env_int("EMAIL_TIMEOUT", 10),
    }
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Audit Trail <audit-trail@localhost>")
# E-mails (alerts, invitations) are retried after these many seconds, then marked failed. A send
# still unfinished EMAIL_DELIVERY_LEASE seconds after it began is taken as abandoned and redone.
EMAIL_RETRY_DELAYS = (30, 120, 600, 1800)
EMAIL_DELIVERY_LEASE = env_int("EMAIL_DELIVERY_LEASE", 300)

# Source IPs: X-Forwarded-For is believed only when the direct peer is one of these proxies.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# A strict Content-Security-Policy: no inline scripts or styles anywhere in the console.
from django.utils.csp import CSP  # noqa: E402  # imported where the policy is set

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

DJANGO_TABLES2_TEMPLATE = "_partials/table.html"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# API rate limit, per API key: at most API_RATE_LIMIT requests per API_RATE_LIMIT_WINDOW seconds
# (0 disables it). Counted in the shared cache (the database, or Redis with REDIS_URL).
API_RATE_LIMIT = env_int("API_RATE_LIMIT", 600)
API_RATE_LIMIT_WINDOW = env_int("API_RATE_LIMIT_WINDOW", 60)

# Export jobs: a Scaleway region -> the S3 endpoint and credentials of its buckets, as JSON
# ({"fr-par": {"endpoint_url": "https://s3.fr-par.scw.cloud", "access_key": "…", "secret_key": "…"}}).
# A bucket in a region without one is a directory under EXPORT_LOCAL_DIR, laid out the same way.
EXPORT_S3_ENDPOINTS: dict[str, dict[str, str]] = json.loads(os.environ.get("EXPORT_S3_ENDPOINTS") or "{}")
EXPORT_LOCAL_DIR = os.environ.get("EXPORT_LOCAL_DIR") or str(BASE_DIR / ".run" / "exports")
# How many days back the first run of an export job goes.
EXPORT_DAYS = env_int("EXPORT_DAYS", 90)
# The most rows "Download this view" writes; the file says so on its last line when it stops there.
EXPORT_DOWNLOAD_MAX_ROWS = env_int("EXPORT_DOWNLOAD_MAX_ROWS", 1_000_000)
