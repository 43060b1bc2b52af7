"""Pause and resume queues: a Redis set of paused queue names.

The flag lives in the product's Redis, so it survives worker restarts and
works with any broker whose consumer checks ``is_paused`` (see
``queueadmin.consumer_pause``). Pausing or resuming twice is harmless.
"""

from __future__ import annotations

import logging

from queueadmin.queues import QUEUES, UnknownQueueError
from queueadmin.redisclient import get_redis, paused_key

logger = logging.getLogger(__name__)


def check_queue(queue_name: str) -> str:
    """Return ``queue_name`` if the project defines it.

    Raises:
      UnknownQueueError: for any other name.
    """
    if queue_name not in QUEUES:
        raise UnknownQueueError(queue_name)
    return queue_name


def pause_queue(queue_name: str) -> bool:
    """Pause one queue; return False if it was paused already."""
    added = get_redis().sadd(paused_key(), check_queue(queue_name))
    logger.info("Paused queue %s (already paused: %s).", queue_name, not added)
    return bool(added)


def resume_queue(queue_name: str) -> bool:
    """Resume one queue; return False if it was not paused."""
    removed = get_redis().srem(paused_key(), check_queue(queue_name))
    if removed:
        _wake_consumers(queue_name)
    logger.info("Resumed queue %s (was paused: %s).", queue_name, bool(removed))
    return bool(removed)


def _wake_consumers(queue_name: str) -> None:
    # An idle consumer of the project's broker fetches only when woken or
    # every 2 s, so a resumed queue wakes one at once.
    import dramatiq

    wake_consumers = getattr(dramatiq.get_broker(), "wake_consumers", None)
    if wake_consumers is not None:
        wake_consumers(queue_name)


def pause_all() -> list[str]:
    """Pause every queue; return the queues that were not paused before."""
    return [name for name in QUEUES if pause_queue(name)]


def resume_all() -> list[str]:
    """Resume every queue; return the queues that were paused before."""
    return [name for name in QUEUES if resume_queue(name)]


def get_paused_queues() -> list[str]:
    """Return the paused queue names, in the project's queue order."""
    paused = {name.decode() for name in get_redis().smembers(paused_key())}
    return [name for name in QUEUES if name in paused]


def is_paused(queue_name: str) -> bool:
    """Return whether ``queue_name`` is paused (one Redis round trip)."""
    return bool(get_redis().sismember(paused_key(), queue_name))
