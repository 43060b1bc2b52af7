"""Exceptions of the job machinery.

A job fails with a ``RecoverableError`` when another attempt may succeed and
with an ``UnrecoverableError`` when no attempt can; the retry middleware
dead-letters the latter at once.
"""

from __future__ import annotations


class JobError(Exception):
    """Base class of the job machinery's exceptions."""


class RecoverableError(JobError):
    """Raised by a job whose failure is passing; it is retried with backoff.

    ``retry_after_ms`` overrides the computed backoff, for example from an HTTP
    ``Retry-After`` header.
    """

    def __init__(self, message: str, *, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class UnrecoverableError(JobError):
    """Raised by a job that cannot succeed; it is dead-lettered without retries."""


class InvalidPayloadError(UnrecoverableError, ValueError):
    """Raised when a payload fails validation, at enqueue or in the worker.

    ``errors`` contains one ``(field, message)`` pair per invalid field.
    """

    def __init__(self, actor_name: str, errors: list[tuple[str, str]]) -> None:
        details = "; ".join(f"{field}: {message}" for field, message in errors)
        super().__init__(f"Invalid payload for {actor_name}: {details}")
        self.actor_name = actor_name
        self.errors = errors


class UnencodableValueError(TypeError, JobError):
    """Raised at enqueue for a value that the job encoding cannot represent."""

    def __init__(self, path: str, value: object) -> None:
        super().__init__(
            f"Cannot encode {path} of type {type(value).__name__}: supported are "
            "None, bool, int, float, str, list, tuple, dict with string keys, "
            "datetime, date, time, timedelta, UUID, Decimal and bytes."
        )
        self.path = path


class PayloadTooLargeError(ValueError, JobError):
    """Raised at enqueue when an encoded job exceeds ``QUEUE_MAX_PAYLOAD_BYTES``."""

    def __init__(self, actor_name: str, size: int, limit: int) -> None:
        super().__init__(
            f"Job for {actor_name} is {size} bytes encoded, over the limit of "
            f"{limit} bytes (QUEUE_MAX_PAYLOAD_BYTES); pass an id instead of the data."
        )
        self.size = size
        self.limit = limit
