"""Count how often each job was handed to a worker, to detect lost workers.

Dramatiq does not count redeliveries: a message whose worker was killed comes
back as if new. The project broker's fetch script increments
``{namespace}:deliveries:{id}`` for each message it hands to a worker and
passes the count on in the message option ``delivery_count``; on other
brokers ``start_delivery`` does it when the worker starts the message. The
count is deleted when the attempt ends with an outcome and decremented when a
stopping worker hands the message back, so a count above one means that
earlier deliveries ended without an outcome. A message that a killed worker
had fetched but not started counts too. ``id`` is the broker's id of the
enqueued copy (Dramatiq's ``redis_message_id``), which a requeue keeps and a
retry or a second copy of the same job does not.
"""

from __future__ import annotations

import redis

#: Seconds a delivery count is kept; longer than any job waits for redelivery.
COUNT_TTL_SECONDS = 7 * 86400

#: Message option with the delivery count that the broker's fetch returned.
DELIVERY_COUNT_OPTION = "delivery_count"


def delivery_key(namespace: str, delivery_id: str) -> str:
    return f"{namespace}:deliveries:{delivery_id}"


def start_delivery(client: redis.Redis, namespace: str, delivery_id: str) -> int:
    """Count a delivery and return the number of deliveries of ``delivery_id`` so far."""
    key = delivery_key(namespace, delivery_id)
    pipeline = client.pipeline(transaction=True)
    pipeline.incr(key)
    pipeline.expire(key, COUNT_TTL_SECONDS)
    count, _ = pipeline.execute()
    return int(count)


def end_delivery(client: redis.Redis, namespace: str, delivery_id: str) -> None:
    """Forget the deliveries of ``delivery_id``: its attempt ended with an outcome."""
    client.delete(delivery_key(namespace, delivery_id))


def get_delivery_id(message) -> str:
    """Return the broker's id of this enqueued copy of the message."""
    return message.options.get("redis_message_id") or message.message_id
