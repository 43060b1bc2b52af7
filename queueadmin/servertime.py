"""The one clock that job ages are measured on: the Redis server's.

Producers and workers may run on hosts whose clocks differ by minutes. Every
enqueue stamps the message with the Redis server time and every worker reads
the same clock before it runs the job, so the measured age does not depend on
either host's clock.
"""

from __future__ import annotations

import redis


def redis_time_ms(client: redis.Redis) -> int:
    """Return the Redis server's clock in milliseconds since the epoch (one round trip)."""
    seconds, microseconds = client.time()
    return seconds * 1000 + microseconds // 1000
