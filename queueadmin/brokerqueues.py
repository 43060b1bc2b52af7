"""Read and edit the broker's queues: the Redis-specific part of administration.

Dramatiq's Redis broker keeps each queue as a list of Redis message ids
(``{namespace}:{queue}``), the messages in the hash ``….msgs``, delayed
messages in ``{queue}.DQ`` and dead letters in the sorted set ``{queue}.XQ``.
A RabbitMQ broker needs its own version of these functions.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import dramatiq
import redis
from dramatiq import Message

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueDepth:
    """Messages waiting in one queue."""

    waiting: int
    delayed: int
    oldest_waiting_age_seconds: float | None


def _broker_client() -> tuple[redis.Redis, str]:
    broker = dramatiq.get_broker()
    return broker.client, broker.namespace


def get_queue_depth(queue_name: str) -> QueueDepth:
    """Return the lengths of the queue and its delay queue and the oldest job's age.

    Costs four O(1) Redis commands. ``delayed`` counts delayed messages not
    yet fetched by a worker; workers hold fetched ones in memory until due.
    """
    client, namespace = _broker_client()
    queue_key = f"{namespace}:{queue_name}"
    pipeline = client.pipeline(transaction=False)
    pipeline.llen(queue_key)
    pipeline.llen(f"{queue_key}.DQ")
    pipeline.lindex(queue_key, 0)
    waiting, delayed, oldest_id = pipeline.execute()
    oldest_age = None
    if oldest_id is not None:
        data = client.hget(f"{queue_key}.msgs", oldest_id)
        if data is not None:
            message = Message.decode(data)
            ready_ms = message.options.get("eta") or message.message_timestamp
            oldest_age = max(0.0, time.time() - ready_ms / 1000)
    return QueueDepth(waiting=waiting, delayed=delayed, oldest_waiting_age_seconds=oldest_age)


def remove_waiting_message(queue_name: str, broker_message_id: str) -> bool:
    """Remove a message that no worker has fetched yet; return whether it was there."""
    if not broker_message_id:
        return False
    client, namespace = _broker_client()
    removed = False
    for name in (queue_name, f"{queue_name}.DQ"):
        queue_key = f"{namespace}:{name}"
        if client.lrem(queue_key, 1, broker_message_id):
            client.hdel(f"{queue_key}.msgs", broker_message_id)
            removed = True
    return removed


def remove_dead_letter_copy(queue_name: str, broker_message_id: str) -> None:
    """Delete the broker's own copy of a dead letter, if it still has one."""
    if not broker_message_id:
        return
    client, namespace = _broker_client()
    xqueue_key = f"{namespace}:{queue_name}.XQ"
    pipeline = client.pipeline(transaction=False)
    pipeline.zrem(xqueue_key, broker_message_id)
    pipeline.hdel(f"{xqueue_key}.msgs", broker_message_id)
    pipeline.execute()
