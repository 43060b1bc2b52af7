"""Stop a worker process gracefully: stop fetching, finish, hand the rest back."""

from __future__ import annotations

import logging
import threading

from dramatiq.middleware import Middleware


logger = logging.getLogger(__name__)


class GracefulShutdown(Middleware):
    """Hand unfinished jobs back to their queues when a worker process stops.

    On SIGTERM Dramatiq lets running jobs finish for ``--worker-shutdown-timeout``
    milliseconds (``runworkers`` passes ``QUEUE_SHUTDOWN_GRACE_SECONDS``) and
    puts prefetched messages back. This middleware adds two steps: the
    consumers stop fetching as soon as the shutdown starts, and a job still
    running when the grace period ends goes back to its queue at once instead
    of waiting for the dead-worker recovery. Neither step uses up an attempt
    or counts as a crash delivery.
    """

    def __init__(self) -> None:
        self.worker = None
        self._running: dict[int, object] = {}
        self._lock = threading.Lock()

    def after_worker_boot(self, broker, worker):
        self.worker = worker

    def before_worker_shutdown(self, broker, worker):
        for consumer_thread in worker.consumers.values():
            consumer = consumer_thread.consumer
            if hasattr(consumer, "stop_fetching"):
                consumer.stop_fetching()
            else:
                consumer_thread.pause()

    def before_process_message(self, broker, message):
        with self._lock:
            self._running[threading.get_ident()] = message

    def after_process_message(self, broker, message, *, result=None, exception=None):
        with self._lock:
            self._running.pop(threading.get_ident(), None)

    after_skip_message = after_process_message

    def after_worker_shutdown(self, broker, worker):
        with self._lock:
            unfinished = list(self._running.values())
            self._running.clear()
        for message in unfinished:
            self._hand_back(broker, message)

    @staticmethod
    def _hand_back(broker, message) -> None:
        redis_message_id = message.options.get("redis_message_id")
        if redis_message_id is None or not hasattr(broker, "do_requeue"):
            return
        # The message is still in this process's unacknowledged set, so the
        # broker's requeue script moves it back to the head of its priority
        # list and takes back its delivery count.
        broker.do_requeue(message.queue_name, redis_message_id)
        logger.warning(
            "Handed job %s of %s back to queue %s: it was still running when the "
            "shutdown grace period ended.",
            message.message_id,
            message.actor_name,
            message.queue_name,
        )
