"""Dramatiq's Redis broker with consumers that honour paused queues."""

from __future__ import annotations

from dramatiq.brokers.redis import RedisBroker

from queueadmin.consumer_pause import PausableRedisConsumer


class PausableRedisBroker(RedisBroker):
    """A ``RedisBroker`` whose consumers fetch nothing from paused queues."""

    @property
    def consumer_class(self):
        return PausableRedisConsumer
