"""Send the benchmark's jobs through each system's public API.

Each class imports its system only when created, so a process loads one
system alone. ``payloads`` are dicts with the three fields every job takes.
"""

from __future__ import annotations

from typing import Any

import redis

Payload = dict[str, Any]


class ProductClient:
    """The product: ``JobActor.enqueue`` and ``enqueue_many`` of ``bench.tasks``."""

    def __init__(self) -> None:
        import django

        django.setup()
        from bench import tasks
        from queueadmin.redisclient import get_redis

        self._tasks = tasks
        self.redis: redis.Redis = get_redis()
        self.latency_key = tasks.latency_key()

    def send_one(self, payload: Payload) -> None:
        self._tasks.noop_job.enqueue(**payload)

    def send_many(self, payloads: list[Payload]) -> None:
        self._tasks.noop_job.enqueue_many(payloads)

    def send_probe(self, payload: Payload) -> None:
        self._tasks.latency_probe.enqueue(**payload)


class DramatiqClient:
    """Plain Dramatiq: ``actor.send`` and ``group(...).run()``."""

    def __init__(self) -> None:
        from bench.peers import dramatiq_app, latency_key

        self._app = dramatiq_app
        self.redis = redis.Redis.from_url(dramatiq_app.REDIS_URL)
        self.latency_key = latency_key()

    def send_one(self, payload: Payload) -> None:
        self._app.noop.send(**payload)

    def send_many(self, payloads: list[Payload]) -> None:
        import dramatiq

        # Dramatiq has no bulk send: a group enqueues its messages one by one.
        dramatiq.group(self._app.noop.message(**payload) for payload in payloads).run()

    def send_probe(self, payload: Payload) -> None:
        self._app.latency_probe.send(**payload)


class CeleryClient:
    """Celery: ``task.delay`` and ``group(...).apply_async()``."""

    def __init__(self) -> None:
        from bench.peers import celery_app, latency_key

        self._app = celery_app
        self.redis = redis.Redis.from_url(celery_app.REDIS_URL)
        self.latency_key = latency_key()

    def send_one(self, payload: Payload) -> None:
        self._app.noop.delay(**payload)

    def send_many(self, payloads: list[Payload]) -> None:
        from celery import group

        group(self._app.noop.s(**payload) for payload in payloads).apply_async()

    def send_probe(self, payload: Payload) -> None:
        self._app.latency_probe.delay(**payload)


class RqClient:
    """RQ: ``Queue.enqueue`` and ``Queue.enqueue_many``."""

    def __init__(self) -> None:
        from rq import Queue

        from bench.peers import QUEUE, REDIS_URL, latency_key, rq_jobs

        self._jobs = rq_jobs
        self._queue_class = Queue
        self.redis = redis.Redis.from_url(REDIS_URL)
        self.queue = Queue(QUEUE, connection=self.redis)
        self.latency_key = latency_key()

    def send_one(self, payload: Payload) -> None:
        self.queue.enqueue(self._jobs.noop, kwargs=payload)

    def send_many(self, payloads: list[Payload]) -> None:
        prepared = [
            self._queue_class.prepare_data(self._jobs.noop, kwargs=payload) for payload in payloads
        ]
        self.queue.enqueue_many(prepared)

    def send_probe(self, payload: Payload) -> None:
        self.queue.enqueue(self._jobs.latency_probe, kwargs=payload)


CLIENTS = {
    "product": ProductClient,
    "dramatiq": DramatiqClient,
    "celery": CeleryClient,
    "rq": RqClient,
}
