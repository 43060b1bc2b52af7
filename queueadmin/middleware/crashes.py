"""Recover the jobs of killed worker processes and dead-letter jobs that keep killing them."""

from __future__ import annotations

import logging

from django.conf import settings
from dramatiq.middleware import Middleware, SkipMessage

from queueadmin import deliveries, settlement
from queueadmin.queues import QUEUES
from queueadmin.recovery import RecoveryThread
from queueadmin.statuses import JobStatus

logger = logging.getLogger(__name__)

#: Reason recorded for a job dead-lettered after too many crash deliveries.
WORKER_LOST = "worker lost"


class CrashRecovery(Middleware):
    """Redeliver jobs of dead workers quickly and count the redeliveries.

    In each worker process a ``RecoveryThread`` sends a heartbeat and moves
    the messages of processes silent for ``QUEUE_HEARTBEAT_TIMEOUT_SECONDS``
    back to their priority lists every ``QUEUE_RECOVERY_INTERVAL_SECONDS``.
    Delayed messages wait in Redis, not in worker memory (``queueadmin.broker``),
    so a dropped Redis connection loses none of them. A job delivered again
    after ``QUEUE_MAX_CRASH_DELIVERIES`` deliveries that ended without an
    outcome is dead-lettered with the reason "worker lost" instead of running
    again.
    """

    def __init__(self) -> None:
        self.thread: RecoveryThread | None = None

    def after_worker_boot(self, broker, worker):
        client = getattr(broker, "client", None)
        if client is None:
            return
        self.thread = RecoveryThread(
            client=client,
            namespace=broker.namespace,
            broker_id=broker.broker_id,
            queue_names=lambda: {*QUEUES, *broker.get_declared_queues()},
            heartbeat_timeout_ms=broker.heartbeat_timeout,
            interval_seconds=settings.QUEUE_RECOVERY_INTERVAL_SECONDS,
        )
        self.thread.start()

    def after_worker_shutdown(self, broker, worker):
        # The heartbeat runs until here, so jobs still finishing in the
        # shutdown grace period are not taken for a dead worker's.
        if self.thread is not None:
            self.thread.stop()

    def before_process_message(self, broker, message):
        count = message.options.pop(deliveries.DELIVERY_COUNT_OPTION, None)
        if count is None:
            client = getattr(broker, "client", None)
            if client is None:
                return
            count = deliveries.start_delivery(
                client, broker.namespace, deliveries.get_delivery_id(message)
            )
        crashes = count - 1
        if crashes < settings.QUEUE_MAX_CRASH_DELIVERIES:
            if crashes:
                logger.warning(
                    "Job %s of %s is delivered again after %d lost worker(s).",
                    message.message_id,
                    message.actor_name,
                    crashes,
                )
            return

        error = f"{WORKER_LOST}: its worker stopped {crashes} times while running it"
        logger.error("Dead-lettering job %s of %s: %s.", message.message_id, message.actor_name, error)
        message.options["last_error"] = error
        message.options["skip_reason"] = WORKER_LOST
        message.options["skip_status"] = JobStatus.DEAD
        message.fail()
        self._announce(message, error)
        raise SkipMessage(WORKER_LOST)

    def after_process_message(self, broker, message, *, result=None, exception=None):
        self._end(broker, message)

    def after_skip_message(self, broker, message):
        self._end(broker, message)

    @staticmethod
    def _end(broker, message) -> None:
        if getattr(broker, "client", None) is None:
            return
        key = deliveries.delivery_key(broker.namespace, deliveries.get_delivery_id(message))
        # Deleted with the ack: a process killed before it still counts as a crash.
        settlement.defer(broker, message, settlement.delete(key))

    @staticmethod
    def _announce(message, error: str) -> None:
        from queueadmin.encoding import decode_value
        from queueadmin.signals import job_dead_lettered

        job_dead_lettered.send_robust(
            sender=message.actor_name,
            job_id=message.message_id,
            actor_name=message.actor_name,
            payload=decode_value(message.args[0]) if message.args else {},
            error=error,
        )
