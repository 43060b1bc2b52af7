"""The Redis clock estimate used for job ages, against a redis-server of the test's own."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import redis
from freezegun import freeze_time

from queueadmin.servertime import current_redis_time_ms, redis_time_ms


def _time_calls(client: redis.Redis) -> int:
    return int(client.info("commandstats").get("cmdstat_time", {}).get("calls", 0))


def test_estimate_matches_redis_clock(private_redis):
    client = redis.Redis.from_url(private_redis.start())

    estimate = current_redis_time_ms(client)
    exact = redis_time_ms(client)

    assert abs(exact - estimate) < 1000


def test_estimate_reads_clock_once(private_redis):
    client = redis.Redis.from_url(private_redis.start())

    current_redis_time_ms(client)
    calls_after_first = _time_calls(client)
    for _ in range(50):
        current_redis_time_ms(client)

    assert calls_after_first == 1
    assert _time_calls(client) == 1


def test_estimate_ignores_local_clock(private_redis):
    client = redis.Redis.from_url(private_redis.start())
    current_redis_time_ms(client)

    with freeze_time(datetime.now(timezone.utc) + timedelta(hours=3)):
        estimate = current_redis_time_ms(client)
    exact = redis_time_ms(client)

    assert abs(exact - estimate) < 1000
