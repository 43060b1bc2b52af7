"""The one clock that job ages are measured on: the Redis server's.

Producers and workers may run on hosts whose clocks differ by minutes. Every
enqueue stamps the message with the Redis server time and every worker reads
the same clock before it runs the job, so the measured age does not depend on
either host's clock.

Reading the Redis clock for each job would cost a round trip per enqueue and
per job, so ``current_redis_time_ms`` reads it once a minute per client and
advances that reading with the local monotonic clock in between. The local
wall clock is never used, so its skew and its jumps do not matter.
"""

from __future__ import annotations

import threading
import time
import weakref

import redis

#: Seconds between two readings of the Redis clock through the same client.
CLOCK_READ_INTERVAL_SECONDS = 60.0

_lock = threading.Lock()
# client -> (Redis time minus local monotonic time in ms, monotonic time of the reading in s)
_offsets: weakref.WeakKeyDictionary[redis.Redis, tuple[float, float]] = weakref.WeakKeyDictionary()


def redis_time_ms(client: redis.Redis) -> int:
    """Return the Redis server's clock in milliseconds since the epoch (one round trip)."""
    seconds, microseconds = client.time()
    return seconds * 1000 + microseconds // 1000


def _monotonic() -> float:
    # CLOCK_MONOTONIC through clock_gettime, which time-freezing test tools leave alone.
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def current_redis_time_ms(client: redis.Redis) -> int:
    """Return the Redis server's clock in milliseconds, read at most once a minute.

    Between readings the result advances with this host's monotonic clock.
    Its error is an estimate: about half a round trip, plus the drift of that
    clock over a minute.
    """
    now = _monotonic()
    with _lock:
        reading = _offsets.get(client)
    if reading is not None and now - reading[1] < CLOCK_READ_INTERVAL_SECONDS:
        return int(now * 1000 + reading[0])

    before = _monotonic()
    server_ms = redis_time_ms(client)
    after = _monotonic()
    offset_ms = server_ms - (before + after) / 2 * 1000
    with _lock:
        _offsets[client] = (offset_ms, after)
    return server_ms
