"""Celery 5 on Redis, without a result backend.

Worker command: ``celery -A bench.peers.celery_app worker --pool prefork
--concurrency 2 --queues <queue>``.

Every key lives under ``BENCH_PREFIX`` through kombu's ``global_keyprefix``.
``task_acks_late`` acknowledges a message after its task ran, as Dramatiq and
RQ do. The harness relies on it: a message in kombu's ``unacked`` hash is not
finished yet.
"""

from __future__ import annotations

import time

import redis
from celery import Celery

from bench.peers import PREFIX, QUEUE, REDIS_URL, latency_key

app = Celery("bench", broker=REDIS_URL)
app.conf.update(
    broker_transport_options={"global_keyprefix": f"{PREFIX}:"},
    broker_connection_retry_on_startup=True,
    task_default_queue=QUEUE,
    task_ignore_result=True,
    task_acks_late=True,
)

_client = redis.Redis.from_url(REDIS_URL)


@app.task(name="bench.noop")
def noop(index: int, label: str, tag: str) -> None:
    """Do nothing."""


@app.task(name="bench.latency_probe")
def latency_probe(index: int, label: str, tag: str) -> None:
    """Append ``"<label> <start time>"`` to the latency list."""
    _client.rpush(latency_key(), f"{label} {time.time()!r}")
