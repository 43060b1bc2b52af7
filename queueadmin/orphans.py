"""Find delayed messages that a worker process fetched and then lost from memory.

Dramatiq's consumer keeps fetched delayed messages in an in-memory queue until
they are due, while Redis keeps their ids in the process's unacknowledged set
of the delay queue. When the connection to Redis drops, the consumer replaces
that in-memory queue with an empty one (``ConsumerThread.run`` in Dramatiq
2.2), but the ids stay unacknowledged and the process stays alive, so the
dead-worker recovery never returns them. ``OrphanedDelayedMessages`` finds
such ids and puts them back on the delay queue.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


class OrphanedDelayedMessages:
    """Requeue delayed messages of this process that are in Redis but not in memory.

    A message between its fetch and the in-memory queue is missing from
    memory for a moment, so only ids missing on two passes in a row are
    requeued.
    """

    def __init__(self, broker: Any, worker: Any) -> None:
        self.broker = broker
        self.worker = worker
        self._suspects: dict[str, set[str]] = {}

    def __call__(self) -> None:
        for queue_name, consumer in list(self.worker.consumers.items()):
            if queue_name.endswith(".DQ"):
                self._check(queue_name, consumer)

    def _check(self, queue_name: str, consumer: Any) -> None:
        unacked = self._unacked_ids(queue_name)
        missing = unacked - self._ids_in_memory(consumer)
        orphans = missing & self._suspects.get(queue_name, set())
        self._suspects[queue_name] = missing - orphans
        if not orphans:
            return
        self.broker.do_requeue(queue_name, *sorted(orphans))
        logger.warning(
            "Requeued %d delayed message(s) on %s that this worker lost from memory.",
            len(orphans),
            queue_name,
        )

    def _unacked_ids(self, queue_name: str) -> set[str]:
        key = f"{self.broker.namespace}:__acks__.{self.broker.broker_id}.{queue_name}"
        return {member.decode() for member in self.broker.client.smembers(key)}

    @staticmethod
    def _ids_in_memory(consumer: Any) -> set[str]:
        delay_queue = consumer.delay_queue
        with delay_queue.mutex:
            items = list(delay_queue.queue)
        return {item.message.options.get("redis_message_id") for item in items}
