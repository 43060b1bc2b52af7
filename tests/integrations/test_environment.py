"""Validation of the integration environment variables."""

from __future__ import annotations

import pytest

from config.environment import ConfigurationError, load_environment


@pytest.fixture
def fresh_environment():
    load_environment.cache_clear()
    yield
    load_environment.cache_clear()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMS_TEMPLATES", "verification"),
        ("LARK_BASE_URL", "open.feishu.cn"),
        ("TENCENT_MEETING_BASE_URL", "ftp://api.meeting.qq.com"),
        ("INTEGRATIONS_READ_TIMEOUT_SECONDS", "0"),
        ("RECORDINGS_MAX_BYTES", "12"),
    ],
)
def test_invalid_value_named_in_error(name, value, monkeypatch, fresh_environment):
    monkeypatch.setenv(name, value)

    with pytest.raises(ConfigurationError) as excinfo:
        load_environment()

    assert f"{name}={value!r} is invalid" in str(excinfo.value)


def test_secret_hidden_in_environment_repr(monkeypatch, fresh_environment):
    monkeypatch.setenv("LARK_APP_SECRET", "very-secret")

    environment = load_environment()

    assert environment.lark_app_secret.get_secret_value() == "very-secret"
    assert "very-secret" not in repr(environment)
