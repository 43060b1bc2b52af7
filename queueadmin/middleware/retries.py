"""Retries with exponential backoff and jitter, aware of the job error classes."""

from __future__ import annotations

import logging
import time
import traceback

from django.conf import settings
from dramatiq.common import compute_backoff
from dramatiq.errors import Retry
from dramatiq.middleware import Retries

from queueadmin.classify import Classification, classify_exception

logger = logging.getLogger(__name__)

#: Message option holding "Type: message" of the last failure.
LAST_ERROR_OPTION = "last_error"
#: Message option holding the formatted traceback of the last failure.
TRACEBACK_OPTION = "traceback"


def describe_exception(exception: BaseException) -> str:
    """Return ``"Type: message"``, safe for exceptions whose ``str()`` fails."""
    try:
        text = str(exception)
    except Exception:  # noqa: BLE001 - a broken __str__ must not stop the worker
        text = "<unprintable exception>"
    name = type(exception).__name__
    return f"{name}: {text}" if text else name


def format_traceback(exception: BaseException) -> str:
    """Return the traceback of ``exception`` as text, even for broken exceptions.

    The exception object itself is never pickled or encoded, so an exception
    that cannot be serialised still leaves its type, message and traceback.
    """
    try:
        return "".join(traceback.format_exception(exception, limit=30))
    except Exception:  # noqa: BLE001 - formatting must not stop the worker
        logger.exception("Formatting the traceback of %s failed.", type(exception).__name__)
        return describe_exception(exception)


class BackoffRetries(Retries):
    """Retry failed jobs up to ``QUEUE_DEFAULT_ATTEMPTS`` attempts in all.

    The delay before retry ``n`` (counting from 0) is ``QUEUE_BACKOFF_DELAY *
    2**n`` milliseconds times a random factor between 1 and 2, capped at
    ``QUEUE_MAX_BACKOFF``. An ``UnrecoverableError`` dead-letters the job at
    once, and so does any exception that ``classify_exception`` calls
    unrecoverable (HTTP 4xx, validation errors, missing rows). A delay that the
    classification gives (``retry_after_ms``, HTTP ``Retry-After``), capped at
    ``QUEUE_MAX_BACKOFF``, or Dramatiq's ``Retry`` with a delay, replaces the
    computed backoff. Actors may override
    ``max_retries``, ``min_backoff`` and ``max_backoff``.
    """

    def __init__(self) -> None:
        super().__init__(
            max_retries=settings.QUEUE_DEFAULT_ATTEMPTS - 1,
            min_backoff=settings.QUEUE_BACKOFF_DELAY,
            max_backoff=settings.QUEUE_MAX_BACKOFF,
        )

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is None:
            return

        message.options[LAST_ERROR_OPTION] = describe_exception(exception)
        message.options[TRACEBACK_OPTION] = format_traceback(exception)
        actor = broker.get_actor(message.actor_name)
        classification = classify_exception(exception)
        throws = message.options.get("throws") or actor.options.get("throws")
        if classification.recoverable is False or (throws and isinstance(exception, throws)):
            logger.warning(
                "Dead-lettering job %s without retry (%s): %s",
                message.message_id,
                classification.reason or "listed in throws",
                message.options[LAST_ERROR_OPTION],
            )
            message.fail()
            return

        retries = message.options.get("retries", 0)
        max_retries = message.options.get(
            "max_retries", actor.options.get("max_retries", self.max_retries)
        )
        if retries >= max_retries:
            logger.warning(
                "Dead-lettering job %s after %d attempts: %s",
                message.message_id,
                retries + 1,
                message.options[LAST_ERROR_OPTION],
            )
            message.fail()
            return

        delay = self._next_delay(message, actor, retries, exception, classification)
        message.options["retries"] = retries + 1
        message.options["requeue_timestamp"] = int(time.time() * 1000)
        logger.info(
            "Retrying job %s (attempt %d of %d) in %d ms after %s",
            message.message_id,
            retries + 2,
            max_retries + 1,
            delay,
            message.options[LAST_ERROR_OPTION],
        )
        broker.enqueue(message, delay=delay)

    def _next_delay(
        self,
        message,
        actor,
        retries: int,
        exception: BaseException,
        classification: Classification,
    ) -> int:
        if classification.retry_after_ms is not None:
            return min(classification.retry_after_ms, self.max_backoff)
        if isinstance(exception, Retry) and exception.delay is not None:
            return exception.delay
        min_backoff = message.options.get(
            "min_backoff", actor.options.get("min_backoff", self.min_backoff)
        )
        max_backoff = message.options.get(
            "max_backoff", actor.options.get("max_backoff", self.max_backoff)
        )
        _, delay = compute_backoff(retries, factor=min_backoff, max_backoff=max_backoff)
        return delay
