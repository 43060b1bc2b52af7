"""Read and edit the broker's queues: the Redis-specific part of administration.

The project broker (``queueadmin.broker``) keeps each queue as three lists of
Redis message ids, one per priority level (``{namespace}:{queue}.high``,
``{namespace}:{queue}`` and ``{namespace}:{queue}.low``), the messages in the
hash ``….msgs``, delayed messages in the sorted set ``{queue}.delayed`` (with
``{queue}.delayed.jobs`` mapping job ids to them) and dead letters in the
sorted set ``{queue}.XQ``. A RabbitMQ broker needs its own version of these
functions.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import dramatiq
import redis
from dramatiq import Message

logger = logging.getLogger(__name__)

#: Suffixes of a queue's ready lists, highest priority first.
_READY_LIST_SUFFIXES = (".high", "", ".low")


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
    """Return the ready and delayed message counts and the oldest ready job's age.

    ``waiting`` counts the ready messages of all priority levels and
    ``delayed`` the messages not due yet. Costs seven O(1) Redis commands and
    up to three hash reads.
    """
    client, namespace = _broker_client()
    queue_key = f"{namespace}:{queue_name}"
    pipeline = client.pipeline(transaction=False)
    for suffix in _READY_LIST_SUFFIXES:
        pipeline.llen(f"{queue_key}{suffix}")
    pipeline.zcard(f"{queue_key}.delayed")
    for suffix in _READY_LIST_SUFFIXES:
        pipeline.lindex(f"{queue_key}{suffix}", 0)
    high, normal, low, delayed, *head_ids = pipeline.execute()
    ages = [_ready_age(client, queue_key, head_id) for head_id in head_ids if head_id is not None]
    known_ages = [age for age in ages if age is not None]
    return QueueDepth(
        waiting=high + normal + low,
        delayed=delayed,
        oldest_waiting_age_seconds=max(known_ages) if known_ages else None,
    )


def _ready_age(client: redis.Redis, queue_key: str, redis_message_id: bytes) -> float | None:
    data = client.hget(f"{queue_key}.msgs", redis_message_id)
    if data is None:
        return None
    # NOTE: the broker drops a delayed message's "eta", so the age of a job
    # that waited in the delayed set counts from its enqueue, not its due time.
    message = Message.decode(data)
    ready_ms = message.options.get("eta") or message.message_timestamp
    return max(0.0, time.time() - ready_ms / 1000)


def remove_waiting_message(queue_name: str, broker_message_id: str) -> bool:
    """Remove a ready or delayed message that no worker has fetched yet.

    Returns whether the message was waiting. A message that a worker has
    fetched is left alone.
    """
    if not broker_message_id:
        return False
    client, namespace = _broker_client()
    queue_key = f"{namespace}:{queue_name}"
    # The fetch script moves due messages atomically, so a message is either
    # still in the delayed set or in one of the lists.
    removed = bool(client.zrem(f"{queue_key}.delayed", broker_message_id))
    if removed:
        _forget_delayed_job(client, queue_key, broker_message_id)
    else:
        removed = any(
            client.lrem(f"{queue_key}{suffix}", 1, broker_message_id)
            for suffix in _READY_LIST_SUFFIXES
        )
    if removed:
        client.hdel(f"{queue_key}.msgs", broker_message_id)
    return removed


def _forget_delayed_job(client: redis.Redis, queue_key: str, broker_message_id: str) -> None:
    # Redis message ids read "<priority level>:<job id>:<nonce>".
    parts = broker_message_id.split(":")
    if len(parts) == 3:
        client.hdel(f"{queue_key}.delayed.jobs", parts[1])


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
