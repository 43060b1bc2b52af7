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

from django.core.exceptions import ImproperlyConfigured
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BASE_DIR = Path(__file__).resolve().parent.parent

REDIS_URL_SCHEMES = ("redis", "rediss", "unix")


class ConfigurationError(ImproperlyConfigured):
    """Raised when an environment variable holds a value the project rejects."""


class Environment(BaseSettings):
    """Validated environment variables, with their defaults.

    Each field's description says what values are allowed; it is quoted in the
    error raised for a bad value.
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
    # Scheduling and flow control
    queue_idempotency_ttl_seconds: int = Field(
        7 * 86400, ge=60, description="an integer >= 60 (seconds)"
    )
    queue_prefetch_per_thread: int = Field(
        1, ge=1, le=100, description="an integer 1-100 (messages per worker thread)"
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
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="one of DEBUG, INFO, WARNING, ERROR"
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text or json"
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
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if "://" not in value:
            raise ValueError("the value is not a URL")
        return value

    @field_validator("queue_rate_limits")
    @classmethod
    def _check_rate_limits(cls, value: dict[str, str]) -> dict[str, str]:
        from queueadmin.ratelimits import parse_rate

        for rate in value.values():
            parse_rate(rate)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


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
