"""Read and validate the environment variables that configure the project.

This module is the one place that reads ``os.environ``. ``config.settings``
turns the validated values into Django settings, and every other module reads
those settings.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BASE_DIR = Path(__file__).resolve().parent.parent

REDIS_URL_SCHEMES = ("redis", "rediss", "unix")

CRON_DESCRIPTION = (
    "a cron expression in UTC (minute hour day month weekday, or six fields with seconds "
    "first), or empty to disable the schedule"
)


class ConfigurationError(ImproperlyConfigured):
    """Raised when an environment variable has a value the project rejects."""


class Environment(BaseSettings):
    """Validated environment variables, with their defaults.

    Each field's description lists the allowed values, and the error raised for
    a bad value quotes it.
    """

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    django_secret_key: str = Field(
        "insecure-development-key-change-me", description="a non-empty string"
    )
    django_debug: bool = Field(False, description="true or false")
    django_allowed_hosts: str = Field(
        "localhost,127.0.0.1,testserver",
        description="a comma-separated list of host names",
    )
    var_dir: Path = Field(
        BASE_DIR / "var", description="a directory for local data (SQLite, mail)"
    )
    database_url: str | None = Field(
        None, description="a database URL such as postgres://user@host:5432/name"
    )
    redis_url: str | None = Field(
        None, description="a URL with scheme redis://, rediss:// or unix://"
    )
    embedded_redis_autostart: bool = Field(
        True, description="true or false (start the embedded Redis when needed)"
    )
    queue_redis_namespace: str = Field(
        "meetingflow",
        min_length=1,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="letters, digits, '_', '.' or '-'",
    )
    queue_concurrency_email: int = Field(2, ge=1, description="an integer >= 1")
    queue_concurrency_meeting: int = Field(1, ge=1, description="an integer >= 1")
    queue_concurrency_external_api: int = Field(
        4, ge=1, description="an integer >= 1"
    )
    queue_default_attempts: int = Field(3, ge=1, description="an integer >= 1")
    queue_backoff_delay: int = Field(
        5000, ge=1, description="an integer >= 1 (milliseconds)"
    )
    queue_max_backoff: int = Field(
        3_600_000, ge=1, description="an integer >= 1 (milliseconds)"
    )
    queue_max_payload_bytes: int = Field(
        1_000_000, ge=1024, description="an integer >= 1024 (bytes)"
    )
    queue_dead_letter_ttl_seconds: int = Field(
        14 * 86400, ge=60, description="an integer >= 60 (seconds)"
    )
    # Queue administration: job records, health, metrics and the Prometheus endpoint.
    queue_job_record_retention_seconds: int = Field(
        7 * 86400, ge=60, description="an integer >= 60 (seconds)"
    )
    queue_dead_letter_retention_seconds: int = Field(
        14 * 86400, ge=60, description="an integer >= 60 (seconds)"
    )
    queue_prometheus_token: str = Field(
        "", description="a secret for GET /metrics; empty disables the endpoint"
    )
    queue_health_stuck_seconds: int = Field(
        30, ge=1, description="an integer >= 1 (seconds)"
    )
    queue_health_max_wait_seconds: int = Field(
        300, ge=1, description="an integer >= 1 (seconds)"
    )
    queue_health_dead_letter_threshold: int = Field(
        10, ge=1, description="an integer >= 1 (dead letters per 15 minutes)"
    )
    # Reliability: idempotency, limits, crash recovery, shutdown, outbox.
    queue_idempotency_ttl_seconds: int = Field(
        86400, ge=1, description="an integer >= 1 (seconds)"
    )
    queue_max_age_seconds_meetings: int = Field(
        86400, ge=1, description="an integer >= 1 (seconds)"
    )
    queue_max_age_seconds_emails: int = Field(
        86400, ge=1, description="an integer >= 1 (seconds)"
    )
    queue_max_age_seconds_external_api: int = Field(
        6 * 3600, ge=1, description="an integer >= 1 (seconds)"
    )
    queue_time_limit_seconds_meetings: int = Field(
        1800, ge=1, description="an integer >= 1 (seconds)"
    )
    queue_time_limit_seconds_emails: int = Field(
        120, ge=1, description="an integer >= 1 (seconds)"
    )
    queue_time_limit_seconds_external_api: int = Field(
        300, ge=1, description="an integer >= 1 (seconds)"
    )
    queue_heartbeat_timeout_seconds: int = Field(
        15, ge=2, description="an integer >= 2 (seconds)"
    )
    queue_recovery_interval_seconds: float = Field(
        2.0, gt=0, le=60, description="a number > 0 and <= 60 (seconds)"
    )
    queue_max_crash_deliveries: int = Field(3, ge=1, description="an integer >= 1")
    queue_shutdown_grace_seconds: int = Field(
        30, ge=0, description="an integer >= 0 (seconds)"
    )
    queue_broker_timeout_seconds: float = Field(
        2.0, gt=0, le=60, description="a number > 0 and <= 60 (seconds)"
    )
    queue_outbox_relay_interval_seconds: float = Field(
        10.0, gt=0, description="a number > 0 (seconds)"
    )
    database_conn_max_age_seconds: int = Field(
        60, ge=0, description="an integer >= 0 (seconds; 0 closes after each request or job)"
    )
    # Scheduling and flow control
    queue_prefetch_per_thread: int = Field(
        1, ge=1, le=100, description="an integer 1-100 (messages per worker thread)"
    )
    queue_disabled_middleware: str = Field(
        "",
        description=(
            "a comma-separated list of Dramatiq middleware to leave out, each a dotted "
            "path or a class name from the DRAMATIQ_BROKER list in config/settings.py"
        ),
    )
    queue_rate_limits: dict[str, str] = Field(
        default_factory=lambda: {"sms": "10/minute", "external_api": "5/second"},
        description="a JSON object of name to '<count>/<second|minute|hour>'",
    )
    scheduler_default_grace_seconds: int = Field(
        300, ge=1, description="an integer >= 1 (seconds)"
    )
    scheduler_reload_seconds: int = Field(
        30, ge=1, le=60, description="an integer 1-60 (seconds)"
    )
    scheduler_clean_up_cron: str = Field("30 3 * * *", description=CRON_DESCRIPTION)
    scheduler_outbox_relay_cron: str = Field("* * * * *", description=CRON_DESCRIPTION)
    meetings_reminder_minutes: int = Field(
        15, ge=0, description="an integer >= 0 (minutes)"
    )

    meetings_max_upload_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, description="an integer >= 1024 (bytes)"
    )
    email_backend: str = Field(
        "notifications.backends.eml.EmlEmailBackend",
        description="the dotted path of a Django email backend",
    )
    email_host: str = Field("127.0.0.1", description="an SMTP host name")
    email_port: int = Field(25, ge=1, le=65535, description="a port 1-65535")
    email_host_user: str = Field("", description="an SMTP user name")
    email_host_password: str = Field("", description="an SMTP password")
    email_use_tls: bool = Field(False, description="true or false")
    email_timeout_seconds: int = Field(10, ge=1, description="an integer >= 1")
    default_from_email: str = Field(
        "Meetingflow <no-reply@example.com>", description="a sender address"
    )
    queue_record_writer: Literal["auto", "worker", "process"] = Field(
        "auto",
        description="auto (process under runworkers, else worker), worker (a thread in each "
        "worker process) or process (manage.py write_job_records)",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="one of DEBUG, INFO, WARNING, ERROR"
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text or json"
    )

    # Integrations
    integrations_connect_timeout_seconds: float = Field(
        5.0, gt=0, description="a number > 0 (seconds to open a connection)"
    )
    integrations_read_timeout_seconds: float = Field(
        30.0, gt=0, description="a number > 0 (seconds to wait for each read)"
    )
    recordings_max_bytes: int = Field(
        4 * 1024**3, ge=1024, description="an integer >= 1024 (bytes)"
    )
    recordings_content_types: str = Field(
        "video/mp4,video/webm,video/quicktime,audio/mp4,audio/mpeg,audio/x-m4a,audio/wav",
        description="a comma-separated list of MIME types",
    )
    recordings_upload_time_limit_seconds: int = Field(
        3600, ge=1, description="an integer >= 1 (seconds one upload may run)"
    )
    recordings_s3_bucket: str = Field("", description="an S3 bucket name; empty disables S3")
    recordings_s3_endpoint_url: str = Field("", description="an S3 endpoint URL or empty")
    recordings_s3_region: str = Field("", description="an S3 region name or empty")
    recordings_s3_access_key_id: str = Field("", description="an access key id")
    recordings_s3_secret_access_key: SecretStr = Field(
        SecretStr(""), description="a secret access key"
    )
    recordings_oss_bucket: str = Field("", description="an OSS bucket name; empty disables OSS")
    recordings_oss_endpoint_url: str = Field(
        "",
        description="the S3-compatible OSS endpoint URL (https://oss-<region>.aliyuncs.com)",
    )
    recordings_oss_region: str = Field("", description="an OSS region name or empty")
    recordings_oss_access_key_id: str = Field("", description="an AccessKey ID")
    recordings_oss_secret_access_key: SecretStr = Field(
        SecretStr(""), description="an AccessKey secret"
    )
    tencent_meeting_base_url: str = Field(
        "https://api.meeting.qq.com", description="an http(s) URL"
    )
    tencent_meeting_app_id: str = Field("", description="the enterprise AppId")
    tencent_meeting_sdk_id: str = Field("", description="the SdkId, or empty when none")
    tencent_meeting_secret_id: str = Field("", description="the application SecretId")
    tencent_meeting_secret_key: SecretStr = Field(
        SecretStr(""), description="the application SecretKey"
    )
    tencent_meeting_operator_id: str = Field(
        "", description="the userid that the API calls act as"
    )
    tencent_meeting_sync_cron: str = Field("15 * * * *", description=CRON_DESCRIPTION)
    tencent_meeting_sync_lookback_hours: int = Field(
        24,
        ge=1,
        le=744,
        description="an integer 1-744 (hours, because Tencent Meeting lists at most 31 days)",
    )
    tencent_meeting_sync_storage_provider: str = Field(
        "local",
        pattern=r"^[a-z0-9_]+$",
        description="a storage provider for the recordings: local, s3 or oss",
    )
    lark_base_url: str = Field("https://open.feishu.cn", description="an http(s) URL")
    lark_app_id: str = Field("", description="the custom app's App ID")
    lark_app_secret: SecretStr = Field(SecretStr(""), description="the custom app's App Secret")
    lark_bitable_app_token: str = Field("", description="the Base (bitable) app_token")
    lark_bitable_table_id: str = Field("", description="the table_id in that Base")
    sms_base_url: str = Field(
        "https://sms.tencentcloudapi.com", description="an http(s) URL"
    )
    sms_region: str = Field("ap-guangzhou", description="a Tencent Cloud region")
    sms_secret_id: str = Field("", description="the Tencent Cloud SecretId")
    sms_secret_key: SecretStr = Field(SecretStr(""), description="the Tencent Cloud SecretKey")
    sms_sdk_app_id: str = Field("", description="the SMS SdkAppId")
    sms_sign_name: str = Field("", description="the approved SMS signature name")
    sms_templates: str = Field(
        "",
        pattern=r"^([a-z_]+=[0-9]+(,[a-z_]+=[0-9]+)*)?$",
        description="comma-separated name=template_id pairs, such as verification=1234567",
    )

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in REDIS_URL_SCHEMES:
            raise ValueError("the scheme must be redis://, rediss:// or unix://")
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError("the URL has no host")
        try:
            parts.port
        except ValueError:
            raise ValueError("the port must be a number from 0 to 65535") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if "://" not in value:
            raise ValueError("the value is not a URL")
        try:
            dj_database_url.parse(value)
        except Exception as exc:  # dj-database-url raises several types
            raise ValueError(f"the URL is not supported ({exc})") from None
        return value

    @field_validator("queue_rate_limits")
    @classmethod
    def _check_rate_limits(cls, value: dict[str, str]) -> dict[str, str]:
        from queueadmin.ratelimits import parse_rate

        for rate in value.values():
            parse_rate(rate)
        return value

    @field_validator(
        "scheduler_clean_up_cron", "scheduler_outbox_relay_cron", "tencent_meeting_sync_cron"
    )
    @classmethod
    def _check_cron(cls, value: str) -> str:
        from queueadmin.crontab import parse_cron

        value = " ".join(value.split())
        if value:
            parse_cron(value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    # Integrations
    @field_validator("tencent_meeting_base_url", "lark_base_url", "sms_base_url")
    @classmethod
    def _check_http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the value is not an http:// or https:// URL")
        return value.rstrip("/")


def _describe_error(error: dict) -> str:
    field_name = str(error["loc"][0]) if error["loc"] else "?"
    field = Environment.model_fields.get(field_name)
    allowed = field.description if field is not None else ""
    reason = error["msg"].removeprefix("Value error, ")
    return (
        f"{field_name.upper()}={error.get('input')!r} is invalid: {reason}; "
        f"allowed: {allowed}."
    )


@functools.cache
def load_environment() -> Environment:
    """Return the validated environment.

    Raises:
      ConfigurationError: naming each invalid variable, its value and what is
        allowed.
    """
    try:
        return Environment()
    except ValidationError as exc:
        lines = [_describe_error(error) for error in exc.errors()]
        raise ConfigurationError("\n".join(lines)) from None
