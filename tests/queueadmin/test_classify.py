"""Mapping exceptions to retry decisions."""

from __future__ import annotations

import errno
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
import redis
from django.core.exceptions import ObjectDoesNotExist
from django.db import OperationalError
from pydantic import BaseModel, ValidationError

from queueadmin.classify import classify_exception, classify_http_status, parse_retry_after
from queueadmin.errors import InvalidPayloadError, RecoverableError, UnrecoverableError


def _http_error(status: int, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://127.0.0.1:9/")
    response = httpx.Response(status, headers=headers or {}, request=request)
    return httpx.HTTPStatusError("failed", request=request, response=response)


def _validation_error() -> ValidationError:
    class Model(BaseModel):
        number: int

    try:
        Model(number="x")
    except ValidationError as exc:
        return exc
    raise AssertionError("no validation error")


@pytest.mark.parametrize(
    "exception",
    [
        TimeoutError("slow"),
        ConnectionError("reset"),
        ConnectionRefusedError("refused"),
        OSError(errno.EHOSTUNREACH, "no route"),
        redis.ConnectionError("down"),
        OperationalError("server closed the connection"),
        httpx.ConnectTimeout("slow"),
        httpx.ConnectError("refused"),
        _http_error(500),
        _http_error(503),
        _http_error(429),
        RecoverableError("later"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_recoverable_exceptions(exception):
    assert classify_exception(exception).recoverable is True


@pytest.mark.parametrize(
    "exception",
    [
        _http_error(400),
        _http_error(404),
        _http_error(422),
        _validation_error(),
        ObjectDoesNotExist("gone"),
        UnrecoverableError("never"),
        InvalidPayloadError("actor", [("field", "missing")]),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_unrecoverable_exceptions(exception):
    assert classify_exception(exception).recoverable is False


def test_unknown_exception_unclassified():
    assert classify_exception(KeyError("x")).recoverable is None
    assert classify_exception(OSError(errno.ENOENT, "no file")).recoverable is None


def test_retry_after_seconds_sets_delay():
    classification = classify_exception(_http_error(503, {"Retry-After": "7"}))

    assert classification.retry_after_ms == 7000


def test_retry_after_http_date_sets_delay():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    header = format_datetime(now + timedelta(seconds=30), usegmt=True)

    assert parse_retry_after(header, now=now) == 30_000


def test_retry_after_invalid_ignored():
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert classify_http_status(429, {"Retry-After": "soon"}).retry_after_ms is None


def test_recoverable_error_keeps_its_delay():
    assert classify_exception(RecoverableError("x", retry_after_ms=1234)).retry_after_ms == 1234
