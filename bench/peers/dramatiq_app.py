"""Plain Dramatiq: its own ``RedisBroker`` with the default middleware.

Worker command: ``dramatiq bench.peers.dramatiq_app --processes P --threads T``.
"""

from __future__ import annotations

import time

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from bench.peers import PREFIX, QUEUE, REDIS_URL, latency_key

broker = RedisBroker(url=REDIS_URL, namespace=PREFIX)
dramatiq.set_broker(broker)

_client = redis.Redis.from_url(REDIS_URL)


@dramatiq.actor(queue_name=QUEUE)
def noop(index: int, label: str, tag: str) -> None:
    """Do nothing."""


@dramatiq.actor(queue_name=QUEUE)
def latency_probe(index: int, label: str, tag: str) -> None:
    """Append ``"<label> <start time>"`` to the latency list."""
    _client.rpush(latency_key(), f"{label} {time.time()!r}")
