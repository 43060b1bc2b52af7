"""Django settings, built from the validated environment in ``config.environment``."""

from __future__ import annotations

import dj_database_url

from config.broker_client import build_broker_client
from config.embedded_redis import EmbeddedRedis
from config.environment import BASE_DIR, load_environment
from config.logging import build_logging_config
from config.middleware import without_disabled_middleware

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
    # First, so that every later middleware and view logs with the id.
    "queueadmin.correlation.CorrelationIdMiddleware",
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
    DATABASES = {
        "default": dj_database_url.parse(
            env.database_url,
            conn_max_age=env.database_conn_max_age_seconds,
            # A connection that the server closed is replaced before reuse.
            conn_health_checks=True,
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            # Workers write from several threads; wait for the lock instead
            # of failing at once. Transactions take the write lock when they
            # begin, so a read-then-write transaction cannot deadlock with
            # another writer (SQLite would fail it at once with "locked").
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
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

# Queue administration: job records, health, metrics and the Prometheus endpoint.
QUEUE_JOB_RECORD_RETENTION_SECONDS = env.queue_job_record_retention_seconds
QUEUE_DEAD_LETTER_RETENTION_SECONDS = env.queue_dead_letter_retention_seconds
QUEUE_PROMETHEUS_TOKEN = env.queue_prometheus_token
QUEUE_HEALTH_STUCK_SECONDS = env.queue_health_stuck_seconds
QUEUE_HEALTH_MAX_WAIT_SECONDS = env.queue_health_max_wait_seconds
QUEUE_HEALTH_DEAD_LETTER_THRESHOLD = env.queue_health_dead_letter_threshold
#: Seconds after which a worker without a heartbeat no longer counts as live.
QUEUE_WORKER_HEARTBEAT_TIMEOUT_SECONDS = 15
#: Seconds between two pushes of buffered job events and metrics to Redis.
QUEUE_EVENT_PUSH_INTERVAL_SECONDS = 0.2
#: Seconds between two drains of the job event list into job records.
QUEUE_EVENT_FLUSH_INTERVAL_SECONDS = 0.5
#: Writer of job records: "worker" (a thread in each worker process),
#: "process" (``manage.py write_job_records``, which ``runworkers`` starts) or
#: "auto": "process" under ``runworkers``, "worker" for a bare ``rundramatiq``.
QUEUE_RECORD_WRITER = env.queue_record_writer

# Reliability: idempotency, age and time limits, crash recovery, graceful
# shutdown and the outbox used while Redis cannot be reached.
QUEUE_IDEMPOTENCY_TTL_SECONDS = env.queue_idempotency_ttl_seconds
QUEUE_MAX_AGE_SECONDS = {
    "meetings": env.queue_max_age_seconds_meetings,
    "emails": env.queue_max_age_seconds_emails,
    "external_api": env.queue_max_age_seconds_external_api,
}
QUEUE_TIME_LIMIT_SECONDS = {
    "meetings": env.queue_time_limit_seconds_meetings,
    "emails": env.queue_time_limit_seconds_emails,
    "external_api": env.queue_time_limit_seconds_external_api,
}
QUEUE_HEARTBEAT_TIMEOUT_SECONDS = env.queue_heartbeat_timeout_seconds
QUEUE_RECOVERY_INTERVAL_SECONDS = env.queue_recovery_interval_seconds
QUEUE_MAX_CRASH_DELIVERIES = env.queue_max_crash_deliveries
QUEUE_SHUTDOWN_GRACE_SECONDS = env.queue_shutdown_grace_seconds
QUEUE_BROKER_TIMEOUT_SECONDS = env.queue_broker_timeout_seconds
QUEUE_OUTBOX_RELAY_INTERVAL_SECONDS = env.queue_outbox_relay_interval_seconds

# Scheduling and flow control: idempotency keys of bulk sends, prefetch, rate
# limits per integration and the scheduler.
QUEUE_PREFETCH_PER_THREAD = env.queue_prefetch_per_thread
QUEUE_RATE_LIMITS = env.queue_rate_limits
SCHEDULER_DEFAULT_GRACE_SECONDS = env.scheduler_default_grace_seconds
SCHEDULER_RELOAD_SECONDS = env.scheduler_reload_seconds
# Cron expressions (UTC) of the built-in schedules. An empty one disables its schedule.
SCHEDULER_CLEAN_UP_CRON = env.scheduler_clean_up_cron
SCHEDULER_OUTBOX_RELAY_CRON = env.scheduler_outbox_relay_cron

DRAMATIQ_BROKER = {
    # Dramatiq's RedisBroker with priority lists, delays ordered by due time in
    # Redis and paused queues.
    "BROKER": "queueadmin.broker.ProjectRedisBroker",
    "OPTIONS": {
        "client": build_broker_client(REDIS_URL, timeout=QUEUE_BROKER_TIMEOUT_SECONDS),
        "namespace": QUEUE_REDIS_NAMESPACE,
        "dead_message_ttl": QUEUE_DEAD_LETTER_TTL_SECONDS * 1000,
        "heartbeat_timeout": QUEUE_HEARTBEAT_TIMEOUT_SECONDS * 1000,
        "idempotency_ttl_seconds": QUEUE_IDEMPOTENCY_TTL_SECONDS,
    },
    # This list replaces Dramatiq's default middleware. django_dramatiq's
    # AdminMiddleware is left out: its Task table grows by a row per message
    # with no index for clean-up, so queueadmin keeps its own job records.
    "MIDDLEWARE": [
        # Dramatiq runs "before" hooks in this order and "after" hooks in
        # reverse. Database connections are checked before any hook uses
        # one and cleaned after the last; the job context is set first and
        # cleared last; expired jobs and jobs of lost workers are dropped
        # before the idempotency claim; the retry decision is made before
        # the job record is written.
        "django_dramatiq.middleware.DbConnectionsMiddleware",
        # Early in the list so that its after_worker_boot runs last.
        "queueadmin.middleware.heap.FreezeStartupObjects",
        "queueadmin.middleware.context.JobContextMiddleware",
        "queueadmin.middleware.prefetch.PrefetchPerThread",
        "dramatiq.middleware.CurrentMessage",
        "queueadmin.middleware.shutdown.GracefulShutdown",
        "queueadmin.middleware.limits.QueueAgeLimit",
        "queueadmin.middleware.crashes.CrashRecovery",
        "queueadmin.middleware.outbox.OutboxRelay",
        # Before JobTracking and the time limit: a job postponed by its rate
        # limit is not started.
        "queueadmin.middleware.ratelimits.RateLimits",
        "queueadmin.middleware.limits.QueueTimeLimit",
        "dramatiq.middleware.ShutdownNotifications",
        "dramatiq.middleware.Callbacks",
        "dramatiq.middleware.Pipelines",
        "queueadmin.middleware.heartbeat.WorkerHeartbeat",
        "queueadmin.middleware.idempotency.IdempotentExecution",
        "queueadmin.middleware.tracking.JobTracking",
        "queueadmin.middleware.retries.BackoffRetries",
    ],
}
DRAMATIQ_BROKER["MIDDLEWARE"] = without_disabled_middleware(
    DRAMATIQ_BROKER["MIDDLEWARE"], env.queue_disabled_middleware
)
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

# Integrations: external HTTP services and recording storage. Timeouts apply
# to every HTTP call an integration makes; secrets stay out of logs.
INTEGRATIONS_CONNECT_TIMEOUT_SECONDS = env.integrations_connect_timeout_seconds
INTEGRATIONS_READ_TIMEOUT_SECONDS = env.integrations_read_timeout_seconds

RECORDINGS_MAX_BYTES = env.recordings_max_bytes
RECORDINGS_CONTENT_TYPES = [
    item.strip().lower() for item in env.recordings_content_types.split(",") if item.strip()
]
RECORDINGS_UPLOAD_TIME_LIMIT_SECONDS = env.recordings_upload_time_limit_seconds
RECORDINGS_ROOT = VAR_DIR / "recordings"


def _s3_storage(
    bucket: str, endpoint_url: str, region: str, key_id: str, secret, **options: object
) -> dict:
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url or None,
            "region_name": region or None,
            "access_key": key_id or None,
            "secret_key": secret.get_secret_value() or None,
            "file_overwrite": False,
            "default_acl": None,
            **options,
        },
    }


# One Django storage per ``storage_provider`` of a recording upload, named
# "recordings_<provider>". S3 and OSS exist only when their bucket is set.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "recordings_local": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": RECORDINGS_ROOT},
    },
}
if env.recordings_s3_bucket:
    STORAGES["recordings_s3"] = _s3_storage(
        env.recordings_s3_bucket,
        env.recordings_s3_endpoint_url,
        env.recordings_s3_region,
        env.recordings_s3_access_key_id,
        env.recordings_s3_secret_access_key,
    )
if env.recordings_oss_bucket:
    # Aliyun OSS serves the S3 protocol at its endpoint but rejects path-style
    # bucket addresses (SecondLevelDomainForbidden), so use bucket.endpoint.
    STORAGES["recordings_oss"] = _s3_storage(
        env.recordings_oss_bucket,
        env.recordings_oss_endpoint_url,
        env.recordings_oss_region,
        env.recordings_oss_access_key_id,
        env.recordings_oss_secret_access_key,
        addressing_style="virtual",
    )

TENCENT_MEETING_BASE_URL = env.tencent_meeting_base_url
TENCENT_MEETING_APP_ID = env.tencent_meeting_app_id
TENCENT_MEETING_SDK_ID = env.tencent_meeting_sdk_id
TENCENT_MEETING_SECRET_ID = env.tencent_meeting_secret_id
TENCENT_MEETING_SECRET_KEY = env.tencent_meeting_secret_key.get_secret_value()
TENCENT_MEETING_OPERATOR_ID = env.tencent_meeting_operator_id
# The periodic import, declared only when the credentials above are set.
TENCENT_MEETING_SYNC_CRON = env.tencent_meeting_sync_cron
TENCENT_MEETING_SYNC_LOOKBACK_HOURS = env.tencent_meeting_sync_lookback_hours
TENCENT_MEETING_SYNC_STORAGE_PROVIDER = env.tencent_meeting_sync_storage_provider

LARK_BASE_URL = env.lark_base_url
LARK_APP_ID = env.lark_app_id
LARK_APP_SECRET = env.lark_app_secret.get_secret_value()
LARK_BITABLE_APP_TOKEN = env.lark_bitable_app_token
LARK_BITABLE_TABLE_ID = env.lark_bitable_table_id

SMS_BASE_URL = env.sms_base_url
SMS_REGION = env.sms_region
SMS_SECRET_ID = env.sms_secret_id
SMS_SECRET_KEY = env.sms_secret_key.get_secret_value()
SMS_SDK_APP_ID = env.sms_sdk_app_id
SMS_SIGN_NAME = env.sms_sign_name
SMS_TEMPLATES = dict(
    pair.split("=", 1) for pair in env.sms_templates.split(",") if pair
)

# httpx logs each request URL at INFO, and download URLs carry signatures.
LOGGING["loggers"]["httpx"] = {"level": "WARNING"}
LOGGING["loggers"]["httpcore"] = {"level": "WARNING"}
