"""Build the Redis client of the Dramatiq broker with bounded timeouts."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def build_broker_client(url: str, *, timeout: float) -> redis.Redis:
    """Return a client for ``url`` whose connects and commands time out after ``timeout`` s.

    A failed command is retried once on a new connection, so a connection
    that a Redis restart closed is replaced without an error, and a server
    that does not answer fails a call within about ``2 * timeout`` seconds.
    The client connects on first use, so building it at start-up is cheap.
    """
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )
