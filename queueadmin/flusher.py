"""The thread that writes job records, in each worker process or in write_job_records.

Every ``QUEUE_EVENT_FLUSH_INTERVAL_SECONDS`` it folds pending job events into
records. Old records are deleted by the built-in clean-up schedule
(``queueadmin.tasks``).
"""

from __future__ import annotations

import logging
import threading

import redis
from django.conf import settings
from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)


class RecordFlusher(threading.Thread):
    """Flush job events until ``stop`` is called; flush once more on stop."""

    def __init__(self) -> None:
        super().__init__(name="job-record-flusher", daemon=True)
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(settings.QUEUE_EVENT_FLUSH_INTERVAL_SECONDS):
            self._flush_once()
        self._flush_once(wait=True)
        connection.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop after a last flush, waiting at most ``timeout`` seconds."""
        self._stopping.set()
        self.join(timeout)

    def _flush_once(self, wait: bool = False) -> None:
        from queueadmin.records import flush_job_events

        try:
            flush_job_events(wait=wait)
        except (redis.RedisError, DatabaseError) as exc:
            logger.warning("Writing job records failed, will try again: %s", exc)
            connection.close()
