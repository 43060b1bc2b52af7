"""Read the worker heartbeats: which worker processes are live, on which queues."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from django.conf import settings

from queueadmin.redisclient import get_redis, workers_key

#: Heartbeats older than this many seconds are deleted when read.
STALE_HEARTBEAT_SECONDS = 3600


@dataclass(frozen=True)
class WorkerState:
    """One worker process as its last heartbeat describes it."""

    worker_id: str
    queues: list[str]
    running: dict[str, int] = field(default_factory=dict)
    age_seconds: float = 0.0


def get_live_workers() -> list[WorkerState]:
    """Return workers whose heartbeat is younger than the heartbeat timeout."""
    client = get_redis()
    now = time.time()
    live, stale = [], []
    for worker_id, raw in client.hgetall(workers_key()).items():
        state = json.loads(raw)
        age = now - state["ts"]
        if age > STALE_HEARTBEAT_SECONDS:
            stale.append(worker_id)
        if age <= settings.QUEUE_WORKER_HEARTBEAT_TIMEOUT_SECONDS:
            live.append(
                WorkerState(worker_id.decode(), state["queues"], state.get("running", {}), age)
            )
    if stale:
        client.hdel(workers_key(), *stale)
    return live


def count_live_workers(queue_name: str, workers: list[WorkerState]) -> int:
    """Return how many of ``workers`` consume ``queue_name``."""
    return sum(1 for worker in workers if queue_name in worker.queues)


def count_running(queue_name: str, workers: list[WorkerState]) -> int:
    """Return how many jobs of ``queue_name`` the ``workers`` are running."""
    return sum(worker.running.get(queue_name, 0) for worker in workers)
