"""RQ 2 job functions.

Worker command: ``rq worker --url <url> --worker-class rq.worker.SimpleWorker
<queue>``. RQ has no key prefix option, so the harness gives it a Redis
database of its own and a queue name per measurement.
"""

from __future__ import annotations

import time

import redis

from bench.peers import REDIS_URL, latency_key

_client = redis.Redis.from_url(REDIS_URL)


def noop(index: int, label: str, tag: str) -> None:
    """Do nothing."""


def latency_probe(index: int, label: str, tag: str) -> None:
    """Append ``"<label> <start time>"`` to the latency list."""
    _client.rpush(latency_key(), f"{label} {time.time()!r}")
