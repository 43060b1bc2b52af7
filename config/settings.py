"""Django settings, built from the validated environment in ``config.environment``."""

from __future__ import annotations

import dj_database_url

from config.embedded_redis import EmbeddedRedis
from config.environment import BASE_DIR, load_environment
from config.logging import build_logging_config

env = load_environment()

VAR_DIR = env.var_dir
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env.django_secret_key
DEBUG = env.django_debug
ALLOWED_HOSTS = [host.strip() for host in env.django_allowed_hosts.split(",") if host]

INSTALLED_APPS = [
    # django_dramatiq builds the broker when its app config is created, so it
    # comes first and every later app's tasks module finds the broker set.
    "django_dramatiq",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "queueadmin",
    "notifications",
    "meetings",
    "integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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

if env.database_url:
    DATABASES = {"default": dj_database_url.parse(env.database_url, conn_max_age=0)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            # Workers write from several threads; wait for the lock instead
            # of failing at once.
            "OPTIONS": {"timeout": 30},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"

# Uploads above this size spill to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# JSON bodies carry whole transcripts, so allow them up to the upload limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.meetings_max_upload_bytes

# Redis: the configured server, or the embedded one under var/redis/.
EMBEDDED_REDIS = None if env.redis_url else EmbeddedRedis(VAR_DIR / "redis")
if env.redis_url:
    REDIS_URL = env.redis_url
elif env.embedded_redis_autostart:
    REDIS_URL = EMBEDDED_REDIS.ensure_running()
else:
    REDIS_URL = EMBEDDED_REDIS.url()

# Queue machinery (queueadmin). Times are in milliseconds unless named.
QUEUE_REDIS_NAMESPACE = env.queue_redis_namespace
QUEUE_CONCURRENCY = {
    "meetings": env.queue_concurrency_meeting,
    "emails": env.queue_concurrency_email,
    "external_api": env.queue_concurrency_external_api,
}
QUEUE_DEFAULT_ATTEMPTS = env.queue_default_attempts
QUEUE_BACKOFF_DELAY = env.queue_backoff_delay
QUEUE_MAX_BACKOFF = env.queue_max_backoff
QUEUE_MAX_PAYLOAD_BYTES = env.queue_max_payload_bytes
QUEUE_DEAD_LETTER_TTL_SECONDS = env.queue_dead_letter_ttl_seconds

# Scheduling and flow control: idempotency keys of bulk sends, prefetch, rate
# limits per integration and the scheduler.
QUEUE_IDEMPOTENCY_TTL_SECONDS = env.queue_idempotency_ttl_seconds
QUEUE_PREFETCH_PER_THREAD = env.queue_prefetch_per_thread
QUEUE_RATE_LIMITS = env.queue_rate_limits
SCHEDULER_DEFAULT_GRACE_SECONDS = env.scheduler_default_grace_seconds
SCHEDULER_RELOAD_SECONDS = env.scheduler_reload_seconds

DRAMATIQ_BROKER = {
    # Dramatiq's RedisBroker with priority lists, delays ordered by due time in
    # Redis and paused queues.
    "BROKER": "queueadmin.broker.ProjectRedisBroker",
    "OPTIONS": {
        "url": REDIS_URL,
        "namespace": QUEUE_REDIS_NAMESPACE,
        "dead_message_ttl": QUEUE_DEAD_LETTER_TTL_SECONDS * 1000,
        "idempotency_ttl_seconds": QUEUE_IDEMPOTENCY_TTL_SECONDS,
    },
    # This list replaces Dramatiq's default middleware. django_dramatiq's
    # AdminMiddleware is left out: its Task table grows by a row per message
    # with no index for clean-up, so queueadmin keeps its own job records.
    "MIDDLEWARE": [
        # Dramatiq runs "before" hooks in this order and "after" hooks in
        # reverse: the job context is set first and cleared last, and the
        # retry decision is made before the job record is written.
        "queueadmin.middleware.context.JobContextMiddleware",
        "queueadmin.middleware.prefetch.PrefetchPerThread",
        "dramatiq.middleware.CurrentMessage",
        "dramatiq.middleware.AgeLimit",
        "dramatiq.middleware.TimeLimit",
        # Before JobTracking: a job postponed by its rate limit is not started.
        "queueadmin.middleware.ratelimits.RateLimits",
        "dramatiq.middleware.ShutdownNotifications",
        "dramatiq.middleware.Callbacks",
        "dramatiq.middleware.Pipelines",
        "queueadmin.middleware.tracking.JobTracking",
        "queueadmin.middleware.retries.BackoffRetries",
        "django_dramatiq.middleware.DbConnectionsMiddleware",
    ],
}
DRAMATIQ_AUTODISCOVER_MODULES = ["tasks"]

# Meetings
MEETINGS_MAX_UPLOAD_BYTES = env.meetings_max_upload_bytes
# Meeting reminders: default minutes before the start.
MEETINGS_REMINDER_MINUTES = env.meetings_reminder_minutes

# Email
EMAIL_BACKEND = env.email_backend
EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_HOST = env.email_host
EMAIL_PORT = env.email_port
EMAIL_HOST_USER = env.email_host_user
EMAIL_HOST_PASSWORD = env.email_host_password
EMAIL_USE_TLS = env.email_use_tls
EMAIL_TIMEOUT = env.email_timeout_seconds
DEFAULT_FROM_EMAIL = env.default_from_email
NOTIFICATIONS_SUBJECT_PREFIX = "[Meetingflow] "

LOGGING = build_logging_config(level=env.log_level, log_format=env.log_format)
