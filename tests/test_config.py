"""Configuration errors stop start-up with the variable, the value and what is allowed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.environment import ConfigurationError, load_environment

BASE_DIR = Path(__file__).resolve().parent.parent

# (variable, value, text of the allowed values that the message quotes)
INVALID_VALUES = [
    ("REDIS_URL", "foo://x", "a URL with scheme redis://, rediss:// or unix://"),
    ("QUEUE_DEFAULT_ATTEMPTS", "-1", "an integer >= 1"),
    ("QUEUE_DEFAULT_ATTEMPTS", "abc", "an integer >= 1"),
    ("QUEUE_CONCURRENCY_EMAIL", "0", "an integer >= 1"),
    ("QUEUE_BACKOFF_DELAY", "1.5", "an integer >= 1 (milliseconds)"),
    ("DATABASE_URL", "nonsense", "a database URL"),
]

# Values that pass a loose check but fail later, deep in a library, unless the
# environment module rejects them.
LATE_FAILING_VALUES = [
    ("DATABASE_URL", "foo://bar", "a database URL"),
    ("REDIS_URL", "redis://127.0.0.1:notaport", "a URL with scheme redis://"),
]


def run_manage_check(**variables: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(variables)
    return subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), "check"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("variable", "value", "allowed"), INVALID_VALUES)
def test_manage_check_rejects_value(variable: str, value: str, allowed: str) -> None:
    result = run_manage_check(**{variable: value})

    assert result.returncode != 0
    assert variable in result.stderr
    assert repr(value) in result.stderr
    assert allowed in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("variable", "value", "allowed"), LATE_FAILING_VALUES)
def test_manage_check_rejects_late_failure(variable: str, value: str, allowed: str) -> None:
    result = run_manage_check(**{variable: value})

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert variable in result.stderr
    assert repr(value) in result.stderr
    assert allowed in result.stderr


@pytest.fixture
def fresh_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Clear the cached environment before and after, so each test reads its own."""
    load_environment.cache_clear()
    yield monkeypatch
    load_environment.cache_clear()


def test_environment_defaults(fresh_environment: pytest.MonkeyPatch) -> None:
    for variable in (
        "QUEUE_CONCURRENCY_EMAIL",
        "QUEUE_CONCURRENCY_MEETING",
        "QUEUE_DEFAULT_ATTEMPTS",
        "QUEUE_BACKOFF_DELAY",
        "QUEUE_MAX_PAYLOAD_BYTES",
        "MEETINGS_MAX_UPLOAD_BYTES",
        "DATABASE_URL",
        "REDIS_URL",
        "EMAIL_BACKEND",
    ):
        fresh_environment.delenv(variable, raising=False)

    env = load_environment()

    assert env.queue_concurrency_email == 2
    assert env.queue_concurrency_meeting == 1
    assert env.queue_default_attempts == 3
    assert env.queue_backoff_delay == 5000
    assert env.queue_max_payload_bytes == 1_000_000
    assert env.meetings_max_upload_bytes == 20 * 1024 * 1024
    assert env.database_url is None
    assert env.redis_url is None
    assert env.email_backend == "notifications.backends.eml.EmlEmailBackend"


def test_environment_reads_values(fresh_environment: pytest.MonkeyPatch) -> None:
    fresh_environment.setenv("QUEUE_DEFAULT_ATTEMPTS", "7")
    fresh_environment.setenv("QUEUE_CONCURRENCY_EMAIL", "5")
    fresh_environment.setenv("REDIS_URL", "redis://127.0.0.1:6390/3")
    fresh_environment.setenv("LOG_LEVEL", "debug")

    env = load_environment()

    assert env.queue_default_attempts == 7
    assert env.queue_concurrency_email == 5
    assert env.redis_url == "redis://127.0.0.1:6390/3"
    assert env.log_level == "DEBUG"


def test_environment_empty_redis_url(fresh_environment: pytest.MonkeyPatch) -> None:
    fresh_environment.setenv("REDIS_URL", "")

    assert load_environment().redis_url is None


@pytest.mark.parametrize(("variable", "value", "allowed"), INVALID_VALUES)
def test_environment_rejects_value(
    fresh_environment: pytest.MonkeyPatch, variable: str, value: str, allowed: str
) -> None:
    fresh_environment.setenv(variable, value)

    with pytest.raises(ConfigurationError) as caught:
        load_environment()

    message = str(caught.value)
    assert message.startswith(f"{variable}={value!r} is invalid")
    assert f"allowed: {allowed}" in message


def test_environment_lists_every_error(fresh_environment: pytest.MonkeyPatch) -> None:
    fresh_environment.setenv("QUEUE_DEFAULT_ATTEMPTS", "0")
    fresh_environment.setenv("QUEUE_CONCURRENCY_MEETING", "many")

    with pytest.raises(ConfigurationError) as caught:
        load_environment()

    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert any(line.startswith("QUEUE_DEFAULT_ATTEMPTS='0'") for line in lines)
    assert any(line.startswith("QUEUE_CONCURRENCY_MEETING='many'") for line in lines)


def test_environment_rejects_redis_without_host(fresh_environment: pytest.MonkeyPatch) -> None:
    fresh_environment.setenv("REDIS_URL", "redis://")

    with pytest.raises(ConfigurationError) as caught:
        load_environment()

    assert str(caught.value).startswith("REDIS_URL='redis://' is invalid: the URL has no host")


def test_environment_cron_settings(fresh_environment: pytest.MonkeyPatch) -> None:
    fresh_environment.setenv("SCHEDULER_OUTBOX_RELAY_CRON", "")
    fresh_environment.setenv("SCHEDULER_CLEAN_UP_CRON", " 0  4 * * 0 ")
    fresh_environment.delenv("TENCENT_MEETING_SYNC_CRON", raising=False)

    env = load_environment()

    assert env.scheduler_outbox_relay_cron == ""
    assert env.scheduler_clean_up_cron == "0 4 * * 0"
    assert env.tencent_meeting_sync_cron == "15 * * * *"


@pytest.mark.parametrize("value", ["61 * * * *", "daily", "* * * *"])
def test_environment_rejects_cron(fresh_environment: pytest.MonkeyPatch, value: str) -> None:
    fresh_environment.setenv("SCHEDULER_CLEAN_UP_CRON", value)

    with pytest.raises(ConfigurationError) as caught:
        load_environment()

    message = str(caught.value)
    assert message.startswith(f"SCHEDULER_CLEAN_UP_CRON={value!r} is invalid: Invalid cron")
    assert "or empty to disable the schedule" in message


BROKER_MIDDLEWARE = [
    "django_dramatiq.middleware.DbConnectionsMiddleware",
    "queueadmin.middleware.heartbeat.WorkerHeartbeat",
    "queueadmin.middleware.tracking.JobTracking",
]


def test_disabled_middleware_by_class_name_and_path() -> None:
    from config.middleware import without_disabled_middleware

    remaining = without_disabled_middleware(
        BROKER_MIDDLEWARE, " JobTracking , queueadmin.middleware.heartbeat.WorkerHeartbeat"
    )

    assert remaining == ["django_dramatiq.middleware.DbConnectionsMiddleware"]


def test_disabled_middleware_empty_keeps_all() -> None:
    from config.middleware import without_disabled_middleware

    assert without_disabled_middleware(BROKER_MIDDLEWARE, "") == BROKER_MIDDLEWARE


def test_disabled_middleware_rejects_unknown_name() -> None:
    from config.middleware import without_disabled_middleware

    with pytest.raises(ConfigurationError) as caught:
        without_disabled_middleware(BROKER_MIDDLEWARE, "JobTracking,NoSuchMiddleware")

    message = str(caught.value)
    assert message.startswith("QUEUE_DISABLED_MIDDLEWARE='JobTracking,NoSuchMiddleware' is invalid")
    assert "unknown middleware NoSuchMiddleware;" in message
    assert "allowed: DbConnectionsMiddleware, WorkerHeartbeat, JobTracking." in message


def test_manage_check_rejects_unknown_middleware() -> None:
    result = run_manage_check(QUEUE_DISABLED_MIDDLEWARE="NoSuchMiddleware")

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "QUEUE_DISABLED_MIDDLEWARE='NoSuchMiddleware' is invalid" in result.stderr
    assert "JobTracking" in result.stderr
