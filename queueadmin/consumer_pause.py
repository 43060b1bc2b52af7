"""A Redis consumer that fetches nothing from a paused queue.

NOTE: a minimal consumer change; it belongs with the project's other broker
extensions once those exist, and reads the same paused-queues set.
"""

from __future__ import annotations

import time

from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.common import q_name

from queueadmin.pausing import is_paused

#: Seconds between two reads of the pause flag by one consumer.
PAUSE_CHECK_INTERVAL_SECONDS = 0.5


class PausableRedisConsumer(_RedisConsumer):
    """Return no message while the queue is paused.

    Messages stay in Redis in their order; messages prefetched before the
    pause stay in this consumer's cache until the queue is resumed. The delay
    queue keeps running, so due delayed jobs move to the paused queue and wait
    there.
    """

    def __init__(self, broker, queue_name, prefetch, timeout):
        super().__init__(broker, queue_name, prefetch, timeout)
        self._canonical_queue = q_name(queue_name)
        self._is_delay_queue = queue_name != self._canonical_queue
        self._paused = False
        self._checked_at = 0.0

    def _queue_paused(self) -> bool:
        now = time.monotonic()
        if now - self._checked_at >= PAUSE_CHECK_INTERVAL_SECONDS:
            self._paused = is_paused(self._canonical_queue)
            self._checked_at = now
        return self._paused

    def __next__(self):
        if not self._is_delay_queue and self._queue_paused():
            time.sleep(PAUSE_CHECK_INTERVAL_SECONDS)
            return None
        return super().__next__()
