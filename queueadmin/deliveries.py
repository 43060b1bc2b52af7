"""Count how often each job was handed to a worker, to detect lost workers.

Dramatiq does not count redeliveries: a message whose worker was killed comes
back as if new. ``start_delivery`` increments ``{namespace}:deliveries:{job_id}``
when a worker starts the job and ``end_delivery`` deletes it when the attempt
ends, so a count above one means earlier deliveries ended without an outcome.
"""

from __future__ import annotations

import redis

#: Seconds a delivery count is kept; longer than any job waits for redelivery.
COUNT_TTL_SECONDS = 7 * 86400


def delivery_key(namespace: str, job_id: str) -> str:
    return f"{namespace}:deliveries:{job_id}"


def start_delivery(client: redis.Redis, namespace: str, job_id: str) -> int:
    """Count a delivery of ``job_id`` and return the number of deliveries so far."""
    key = delivery_key(namespace, job_id)
    pipeline = client.pipeline(transaction=True)
    pipeline.incr(key)
    pipeline.expire(key, COUNT_TTL_SECONDS)
    count, _ = pipeline.execute()
    return int(count)


def end_delivery(client: redis.Redis, namespace: str, job_id: str) -> None:
    """Forget the deliveries of ``job_id``: its attempt ended with an outcome."""
    client.delete(delivery_key(namespace, job_id))


def undo_delivery(client: redis.Redis, namespace: str, job_id: str) -> None:
    """Take back one delivery of a job that is handed back unfinished on shutdown."""
    client.decr(delivery_key(namespace, job_id))
