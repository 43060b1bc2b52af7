"""Record each job's life as buffered events and count its outcome.

The hooks append to the process's ``queueadmin.jobevents`` buffer, and the
record writer folds the events into job records in batches
(``queueadmin.records.flush_job_events``). A job sent with the broker's
``send_one`` or ``send_many`` gets its "enqueued" event and count from the
send script instead (``record_send``). A job sent
from inside a transaction also gets its record inserted in that transaction
(``queueadmin.records.insert_in_transaction``).
"""

from __future__ import annotations

import logging
import threading
import time

from dramatiq.middleware import Middleware
from dramatiq.worker import ConsumerThread

from queueadmin import metrics
from queueadmin.broker import SendRecord
from queueadmin.encoding import decode_value
from queueadmin.envelope import ENVELOPE_OPTION
from queueadmin.jobevents import buffer, emit
from queueadmin.priorities import PRIORITY_RANKS, get_priority
from queueadmin.redisclient import job_events_key
from queueadmin.signals import job_dead_lettered
from queueadmin.statuses import JobStatus

logger = logging.getLogger(__name__)

#: Message option that a middleware sets to say why it skipped a message.
SKIP_REASON_OPTION = "skip_reason"
#: Message option with the job status a skipped message gets.
SKIP_STATUS_OPTION = "skip_status"

#: Message options that describe one delivery, not the job; not kept for rebuilding.
DELIVERY_OPTIONS = frozenset(
    {
        "redis_message_id",
        "eta",
        "retries",
        "traceback",
        "last_error",
        "requeue_timestamp",
        "result_summary",
        "delivery_count",
        SKIP_REASON_OPTION,
        SKIP_STATUS_OPTION,
    }
)


def _queue(message) -> str:
    return message.queue_name.removesuffix(".DQ")


def _seconds(milliseconds: int | None) -> float | None:
    return None if milliseconds is None else milliseconds / 1000


def _due_time(message, ts: float, delay: int | None) -> float | None:
    """Return when a delayed message is due, in UNIX seconds; None when not delayed.

    Dramatiq's broker keeps the due time in the "eta" option; the project's
    broker drops that option (it orders delayed messages by due time itself),
    so the time comes from the delay then.
    """
    if not delay:
        return None
    eta = _seconds(message.options.get("eta"))
    return eta if eta is not None else ts + delay / 1000


def enqueued_fields(message, *, ts: float, eta: float | None) -> dict:
    """Return the fields of the "enqueued" event of ``message``; times in UNIX seconds."""
    envelope = message.options.get(ENVELOPE_OPTION) or {}
    return {
        "ts": ts,
        "actor": message.actor_name,
        "queue": _queue(message),
        "priority": PRIORITY_RANKS[get_priority(message)],
        "payload": message.args[0] if message.args else {},
        "options": {k: v for k, v in message.options.items() if k not in DELIVERY_OPTIONS},
        "broker_message_id": message.options.get("redis_message_id", ""),
        "idempotency_key": envelope.get("idempotency_key"),
        "correlation_id": envelope.get("correlation_id"),
        "user_id": envelope.get("user_id"),
        "eta": eta,
    }


class JobTracking(Middleware):
    """Keep job records and metrics in step with the broker.

    Listed before the retry middleware, so that its ``after_process_message``
    runs after the retry decision (Dramatiq runs "after" hooks in reverse).
    """

    def __init__(self) -> None:
        self._started: dict[str, float] = {}
        self._local = threading.local()
        self._flusher = None

    def after_worker_boot(self, broker, worker):
        from django.conf import settings

        from queueadmin.flusher import RecordFlusher

        if settings.QUEUE_RECORD_WRITER == "process":
            # ``write_job_records`` runs in a process of its own, so the
            # writing of records does not take the worker threads' GIL.
            return
        self._flusher = RecordFlusher()
        self._flusher.start()

    def after_worker_shutdown(self, broker, worker):
        if self._flusher is not None:
            self._flusher.stop()

    def before_enqueue(self, broker, message, delay):
        # Taken before the send: a worker may start the job before this hook's
        # "after" twin runs, and the start must be the later event.
        self._local.enqueue_ts = time.time()
        self._local.recorded_ids = None

    def before_enqueue_many(self, broker, messages, delay):
        self._local.enqueue_ts = time.time()
        self._local.recorded_ids = None

    def record_send(self, broker, messages, delay) -> SendRecord | None:
        """Return the records that the broker's send script writes for ``messages``.

        ``ProjectRedisBroker.send_one`` and ``send_many`` call this between the
        "before" and "after" enqueue hooks. The script then appends each sent
        job's "enqueued" event (as a "sent" event, see ``batchevents``) and
        its count in the same call as the send, so no job is sent without
        them. Returns None, and leaves the records to ``after_enqueue``, for a
        message moved by a consumer thread, a retry, or messages of several actors.
        """
        first = messages[0]
        if isinstance(threading.current_thread(), ConsumerThread) or any(
            message.options.get("retries") or message.actor_name != first.actor_name for message in messages
        ):
            return None
        ts = getattr(self._local, "enqueue_ts", None) or time.time()
        self._local.recorded_ids = {message.message_id for message in messages}
        return SendRecord(
            events_key=job_events_key(),
            ts=ts,
            eta=_due_time(first, ts, delay),
            counter_key=metrics.jobs_key(),
            counter_field=metrics.enqueued_field(_queue(first), first.actor_name),
        )

    def _recorded_by_send(self, message) -> bool:
        recorded_ids = getattr(self._local, "recorded_ids", None)
        return recorded_ids is not None and message.message_id in recorded_ids

    def after_enqueue_many(self, broker, messages, delay):
        # The project broker's send script records the messages that
        # record_send accepts. The others (moved by a consumer thread, retries,
        # several actors) get the events of single sends.
        if self._recorded_by_send(messages[0]):
            return
        for message in messages:
            self.after_enqueue(broker, message, delay)

    def after_enqueue(self, broker, message, delay):
        if self._recorded_by_send(message):
            return
        if delay is None and isinstance(threading.current_thread(), ConsumerThread):
            # In Dramatiq 2.2 a consumer thread enqueues only one kind of message:
            # a due message moved from the delay queue (``handle_delayed_messages``).
            # The job was recorded when it was first sent, so only its broker id changes.
            emit(
                "moved",
                message.message_id,
                actor=message.actor_name,
                queue=_queue(message),
                broker_message_id=message.options.get("redis_message_id", ""),
            )
            return
        ts = getattr(self._local, "enqueue_ts", None) or time.time()
        eta = _due_time(message, ts, delay)
        retries = message.options.get("retries", 0)
        if retries:
            emit(
                "retry_scheduled",
                message.message_id,
                ts=ts,
                actor=message.actor_name,
                queue=_queue(message),
                broker_message_id=message.options.get("redis_message_id", ""),
                eta=eta,
                delay_ms=delay,
            )
            return
        # Built here, not through emit(), which would copy the fields twice.
        event = {"kind": "enqueued", "job": message.message_id, **enqueued_fields(message, ts=ts, eta=eta)}
        buffer.add_events([event])
        metrics.count_enqueued(_queue(message), message.actor_name)

    def before_process_message(self, broker, message):
        now = time.time()
        self._started[message.message_id] = time.monotonic()
        # A retry waits from the retry decision, not from the first send.
        ready_ms = (
            message.options.get("eta")
            or message.options.get("requeue_timestamp")
            or message.message_timestamp
        )
        wait_ms = max(0, int(now * 1000 - ready_ms))
        message.options["wait_ms"] = wait_ms
        emit(
            "started",
            message.message_id,
            ts=now,
            actor=message.actor_name,
            queue=_queue(message),
            attempt=message.options.get("retries", 0) + 1,
            wait_ms=wait_ms,
        )

    def after_process_message(self, broker, message, *, result=None, exception=None):
        started = self._started.pop(message.message_id, None)
        duration_ms = int((time.monotonic() - started) * 1000) if started else 0
        queue = _queue(message)
        wait_ms = message.options.get("wait_ms")
        if exception is None:
            emit(
                "succeeded",
                message.message_id,
                actor=message.actor_name,
                queue=queue,
                duration_ms=duration_ms,
                result_summary=message.options.get("result_summary", ""),
            )
            metrics.count_outcome(
                queue, message.actor_name, "succeeded", duration_ms=duration_ms, wait_ms=wait_ms
            )
            return

        emit(
            "failed",
            message.message_id,
            actor=message.actor_name,
            queue=queue,
            duration_ms=duration_ms,
            # The retry middleware has counted the retry already, unless the job died.
            attempt=message.options.get("retries", 0) + (1 if message.failed else 0),
            error=message.options.get("last_error", ""),
            traceback=message.options.get("traceback", ""),
            broker_message_id=message.options.get("redis_message_id", ""),
            dead=message.failed,
        )
        outcome = "dead" if message.failed else "failed"
        metrics.count_outcome(
            queue, message.actor_name, outcome, duration_ms=duration_ms, wait_ms=wait_ms
        )
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
            status = message.options.get(SKIP_STATUS_OPTION, JobStatus.SKIPPED)
        emit(
            "finished",
            message.message_id,
            actor=message.actor_name,
            queue=_queue(message),
            status=str(status),
            reason=reason,
        )
        metrics.count_outcome(_queue(message), message.actor_name, str(status))

    def _announce_dead_letter(self, message) -> None:
        payload = decode_value(message.args[0]) if message.args else {}
        job_dead_lettered.send_robust(
            sender=message.actor_name,
            job_id=message.message_id,
            actor_name=message.actor_name,
            payload=payload,
            error=message.options.get("last_error", ""),
        )
