"""The thread that writes job records, in each worker process or in write_job_records.

Every ``QUEUE_EVENT_FLUSH_INTERVAL_SECONDS`` it folds pending job events into
records. When none are pending it blocks on Redis until one comes, so an idle
writer sends Redis one command per ``IDLE_WAIT_SECONDS``. Old records are
deleted by the built-in clean-up schedule (``queueadmin.tasks``).
"""

from __future__ import annotations

import logging
import threading

import redis
from django.conf import settings
from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)

#: Maximum seconds of one blocking wait for job events. A stop waits for the wait to end.
IDLE_WAIT_SECONDS = 1.0


class RecordFlusher(threading.Thread):
    """Flush job events until ``stop`` is called; flush once more on stop."""

    def __init__(self) -> None:
        super().__init__(name="job-record-flusher", daemon=True)
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(settings.QUEUE_EVENT_FLUSH_INTERVAL_SECONDS):
            if self._flush_once() == 0:
                self._wait_for_events()
        self._flush_once(wait=True)
        connection.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop after a last flush, waiting at most ``timeout`` seconds."""
        self._stopping.set()
        self.join(timeout)

    def _flush_once(self, wait: bool = False) -> int | None:
        """Write pending events; return how many, or None when the flush failed."""
        from queueadmin.records import flush_job_events

        try:
            return flush_job_events(wait=wait)
        except (redis.RedisError, DatabaseError) as exc:
            logger.warning("Writing job records failed, will try again: %s", exc)
            connection.close()
            return None

    def _wait_for_events(self) -> None:
        """Block until a job event is pending or the flusher is stopped."""
        from queueadmin.records import wait_for_job_events

        try:
            while not self._stopping.is_set() and not wait_for_job_events(IDLE_WAIT_SECONDS):
                pass
        except redis.RedisError as exc:
            # The next flush fails too and logs it as a warning.
            logger.debug("Waiting for job events failed: %s", exc)
