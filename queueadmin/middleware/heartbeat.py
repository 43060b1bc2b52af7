"""Worker heartbeats in the product's Redis, read by the health check."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter

import redis
from dramatiq.common import q_name
from dramatiq.middleware import Middleware

from queueadmin.redisclient import get_redis, workers_key

logger = logging.getLogger(__name__)

#: Seconds between two heartbeats of one worker process.
HEARTBEAT_INTERVAL_SECONDS = 2.0


class WorkerHeartbeat(Middleware):
    """Write ``{queues, running, ts}`` of this worker process every 2 seconds.

    The field of the hash ``{namespace}:workers`` is the process's worker id.
    ``running`` counts the messages this process is handling per queue. The
    field is removed on a clean shutdown; readers ignore stale fields.
    """

    def __init__(self) -> None:
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._running: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._queues: list[str] = []
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker, worker):
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        queues = worker.consumer_whitelist or broker.get_declared_queues()
        self._queues = sorted({q_name(name) for name in queues})
        self._thread = threading.Thread(target=self._run, name="worker-heartbeat", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker, worker):
        self._stopping.set()
        try:
            get_redis().hdel(workers_key(), self.worker_id)
        except redis.RedisError as exc:
            logger.warning("Removing the heartbeat of worker %s failed: %s", self.worker_id, exc)

    def before_process_message(self, broker, message):
        with self._lock:
            self._running[message.message_id] = q_name(message.queue_name)

    def after_process_message(self, broker, message, *, result=None, exception=None):
        self._finish(message)

    def after_skip_message(self, broker, message):
        self._finish(message)

    def _finish(self, message) -> None:
        with self._lock:
            self._running.pop(message.message_id, None)

    def _beat(self) -> None:
        with self._lock:
            running = dict(Counter(self._running.values()))
        state = {"queues": self._queues, "running": running, "pid": os.getpid(), "ts": time.time()}
        get_redis().hset(workers_key(), self.worker_id, json.dumps(state))

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._beat()
            except redis.RedisError as exc:
                logger.warning("Heartbeat of worker %s failed: %s", self.worker_id, exc)
            self._stopping.wait(HEARTBEAT_INTERVAL_SECONDS)
