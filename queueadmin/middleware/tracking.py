"""Record each job's life in ``JobRecord`` rows and announce dead letters."""

from __future__ import annotations

import logging
import time

from dramatiq.middleware import Middleware

from queueadmin.encoding import decode_value
from queueadmin.statuses import JobStatus
from queueadmin.signals import job_dead_lettered

logger = logging.getLogger(__name__)

#: Message option that a middleware sets to say why it skipped a message.
SKIP_REASON_OPTION = "skip_reason"


def _records():
    # Imported on first use: middleware is built while Django loads the apps,
    # before models can be imported.
    from queueadmin import records

    return records


class JobTracking(Middleware):
    """Keep ``JobRecord`` in step with the broker.

    Listed before the retry middleware, so that its ``after_process_message``
    runs after the retry decision (Dramatiq runs "after" hooks in reverse).
    """

    def __init__(self) -> None:
        self._started: dict[str, float] = {}

    def before_enqueue(self, broker, message, delay):
        if message.options.get("retries"):
            _records().record_retry_scheduled(message, delay)
        else:
            _records().record_enqueued(message, delay)

    def before_process_message(self, broker, message):
        self._started[message.message_id] = time.monotonic()
        _records().record_started(message)

    def after_process_message(self, broker, message, *, result=None, exception=None):
        started = self._started.pop(message.message_id, None)
        duration_ms = int((time.monotonic() - started) * 1000) if started else 0
        if exception is None:
            _records().record_succeeded(message, result, duration_ms)
            return
        _records().record_failed_attempt(message, duration_ms, dead=message.failed)
        if message.failed:
            self._announce_dead_letter(message)

    def after_skip_message(self, broker, message):
        self._started.pop(message.message_id, None)
        reason = message.options.get(SKIP_REASON_OPTION)
        if reason is None:
            # Dramatiq's AgeLimit fails the message before skipping it.
            status, reason = (JobStatus.EXPIRED, "age limit exceeded")
            if not message.failed:
                status, reason = (JobStatus.SKIPPED, "skipped")
        else:
            status = message.options.get("skip_status", JobStatus.SKIPPED)
        _records().record_skipped(message, status, reason)

    def _announce_dead_letter(self, message) -> None:
        payload = decode_value(message.args[0]) if message.args else {}
        job_dead_lettered.send_robust(
            sender=message.actor_name,
            job_id=message.message_id,
            actor_name=message.actor_name,
            payload=payload,
            error=message.options.get("last_error", ""),
        )
