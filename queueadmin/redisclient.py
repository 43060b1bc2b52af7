"""The Redis connection and key names of the queue administration.

Pause flags, cancellations, job events, metrics and worker heartbeats live in
this product-level Redis, whichever broker carries the messages.
"""

from __future__ import annotations

import functools

import redis
from django.conf import settings

#: Seconds to wait for a connection or a reply before a call fails.
SOCKET_TIMEOUT_SECONDS = 2.0


@functools.lru_cache(maxsize=8)
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        health_check_interval=30,
    )


def get_redis() -> redis.Redis:
    """Return a shared client of ``settings.REDIS_URL`` (thread-safe, pooled)."""
    return _client_for(settings.REDIS_URL)


def key(*parts: str) -> str:
    """Return the Redis key ``{namespace}:{part}:{part}…``."""
    return ":".join((settings.QUEUE_REDIS_NAMESPACE, *parts))


def paused_key() -> str:
    """Return the set of paused queue names, read by the broker's consumers."""
    return key("__paused__")


def job_events_key() -> str:
    """Return the list of job events waiting to be written into job records."""
    return key("job-events")


def workers_key() -> str:
    """Return the hash of worker heartbeats, one field per worker process."""
    return key("workers")


def dead_letter_count_key() -> str:
    """Return the hash of dead-letter counts per queue."""
    return key("dead-letters")
