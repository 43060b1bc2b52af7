"""Private Redis servers and brokers for tests that stop or restart Redis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dramatiq
from django.conf import settings
from django.utils.module_loading import import_string
from dramatiq.brokers.redis import RedisBroker

from config.broker_client import build_broker_client
from queueadmin.actors import JobActor


def build_project_broker(url: str) -> RedisBroker:
    """Return a broker for ``url`` with the project's middleware, options and namespace."""
    options = {
        key: value for key, value in settings.DRAMATIQ_BROKER["OPTIONS"].items() if key != "client"
    }
    middleware = [import_string(path)() for path in settings.DRAMATIQ_BROKER["MIDDLEWARE"]]
    client = build_broker_client(url, timeout=settings.QUEUE_BROKER_TIMEOUT_SECONDS)
    return RedisBroker(client=client, middleware=middleware, **options)


@contextmanager
def actors_on(broker: dramatiq.Broker, *actors: JobActor) -> Iterator[dramatiq.Broker]:
    """Send ``actors``' jobs through ``broker`` inside the block, then restore their broker."""
    previous = [actor.actor.broker for actor in actors]
    for actor in actors:
        broker.declare_actor(actor.actor)
        actor.actor.broker = broker
    try:
        yield broker
    finally:
        for actor, old_broker in zip(actors, previous):
            actor.actor.broker = old_broker
        broker.client.close()
