"""Decide whether a job's exception is worth another attempt.

The retry middleware asks ``classify_exception`` for every failure. The
project's own ``RecoverableError`` and ``UnrecoverableError`` decide for
themselves; common library exceptions are mapped here so that actors need not
wrap them:

* recoverable: timeouts, connection and network errors (built-in, Redis,
  database, ``httpx`` and ``requests``), and HTTP 408, 425, 429 and 5xx
  responses, whose ``Retry-After`` header sets the next delay;
* unrecoverable: other HTTP 4xx responses, pydantic and Django validation
  errors, and a missing database row (``ObjectDoesNotExist``).

Any other exception is retried with backoff, as Dramatiq does by default.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from queueadmin.errors import RecoverableError, UnrecoverableError

#: ``OSError.errno`` values of network failures that a later attempt may not see.
NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.ETIMEDOUT,
        errno.EPIPE,
    }
)

#: HTTP statuses below 500 that are passing: timeout, too early, too many requests.
RECOVERABLE_HTTP_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Classification:
    """The retry decision for one exception.

    ``recoverable`` is None when nothing is known about the exception; the
    retry middleware treats that like a recoverable failure.
    """

    recoverable: bool | None
    retry_after_ms: int | None = None
    reason: str = ""


UNKNOWN = Classification(recoverable=None, reason="unclassified exception")


def classify_exception(exception: BaseException) -> Classification:
    """Return the retry decision for ``exception``; never raises."""
    for classifier in (
        _classify_job_error,
        _classify_http_error,
        _classify_validation_error,
        _classify_missing_row,
        _classify_network_error,
    ):
        result = classifier(exception)
        if result is not None:
            return result
    return UNKNOWN


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> int | None:
    """Return the delay in milliseconds that a ``Retry-After`` header asks for.

    The header holds either a number of seconds or an HTTP date. Returns None
    for a missing or invalid value, and 0 for a date in the past.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value) * 1000
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    remaining = when - (now or datetime.now(timezone.utc))
    return max(0, int(remaining.total_seconds() * 1000))


def classify_http_status(status: int, headers: Any = None) -> Classification:
    """Return the retry decision for an HTTP response status and its headers."""
    if status in RECOVERABLE_HTTP_STATUSES or status >= 500:
        retry_after = headers.get("Retry-After") if headers is not None else None
        return Classification(True, parse_retry_after(retry_after), f"HTTP {status}")
    if 400 <= status < 500:
        return Classification(False, reason=f"HTTP {status}")
    return UNKNOWN


def _classify_job_error(exception: BaseException) -> Classification | None:
    if isinstance(exception, UnrecoverableError):
        return Classification(False, reason=type(exception).__name__)
    if isinstance(exception, RecoverableError):
        return Classification(True, exception.retry_after_ms, type(exception).__name__)
    return None


def _response_of(exception: BaseException) -> Any:
    # httpx.HTTPStatusError and requests.HTTPError both carry ``response``
    # with ``status_code`` and ``headers``.
    response = getattr(exception, "response", None)
    if response is None or not isinstance(getattr(response, "status_code", None), int):
        return None
    return response


def _classify_http_error(exception: BaseException) -> Classification | None:
    if not _is_instance(exception, "httpx", "HTTPStatusError") and not _is_instance(
        exception, "requests", "HTTPError"
    ):
        return None
    response = _response_of(exception)
    if response is None:
        return None
    return classify_http_status(response.status_code, response.headers)


def _classify_validation_error(exception: BaseException) -> Classification | None:
    from django.core.exceptions import ValidationError as DjangoValidationError
    from pydantic import ValidationError

    if isinstance(exception, (ValidationError, DjangoValidationError)):
        return Classification(False, reason="validation error")
    return None


def _classify_missing_row(exception: BaseException) -> Classification | None:
    from django.core.exceptions import ObjectDoesNotExist

    if isinstance(exception, ObjectDoesNotExist):
        return Classification(False, reason="database row not found")
    return None


def _classify_network_error(exception: BaseException) -> Classification | None:
    import redis
    from django.db import InterfaceError, OperationalError

    recoverable_types: tuple[type[BaseException], ...] = (
        TimeoutError,
        ConnectionError,
        redis.ConnectionError,
        redis.TimeoutError,
        OperationalError,
        InterfaceError,
    )
    if isinstance(exception, recoverable_types):
        return Classification(True, reason="timeout or connection error")
    if isinstance(exception, OSError) and exception.errno in NETWORK_ERRNOS:
        return Classification(True, reason="network error")
    for module, name in (
        ("httpx", "TimeoutException"),
        ("httpx", "NetworkError"),
        ("httpx", "RemoteProtocolError"),
        ("requests", "Timeout"),
        ("requests", "ConnectionError"),
    ):
        if _is_instance(exception, module, name):
            return Classification(True, reason="timeout or connection error")
    return None


def _is_instance(exception: BaseException, module_name: str, class_name: str) -> bool:
    """Check against a class of an optional library without importing it here."""
    import sys

    module = sys.modules.get(module_name)
    if module is None:
        # A library that was never imported cannot have raised the exception.
        return False
    cls = getattr(module, class_name, None)
    return isinstance(cls, type) and isinstance(exception, cls)
