"""The outbox: jobs that could not reach Redis wait in the database.

``store`` keeps a job whose enqueue failed because the broker could not be
reached within ``QUEUE_BROKER_TIMEOUT_SECONDS``. ``relay`` sends stored jobs
in the order they were stored and deletes each once Redis has it. The
idempotency key of each job is claimed in the same Redis call that sends it,
so a job whose key another job took meanwhile is dropped, and a row relayed
twice (a relay that stopped between sending and deleting) is sent once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import dramatiq
import redis
from django.db import transaction
from dramatiq import Message
from dramatiq.errors import BrokerConnectionError

from queueadmin.enqueue import send_with_key
from queueadmin.envelope import get_envelope

logger = logging.getLogger(__name__)

#: Exceptions of an enqueue that mean the broker could not be reached.
BROKER_UNAVAILABLE_ERRORS = (redis.ConnectionError, redis.TimeoutError, BrokerConnectionError)


def store(message: Message, delay: int | None, *, key: str, error: BaseException) -> None:
    """Write ``message`` to the outbox table, for ``relay`` to send later."""
    from queueadmin.models import OutboxMessage

    OutboxMessage.objects.create(
        job_id=message.message_id,
        actor=message.actor_name,
        queue=message.queue_name,
        idempotency_key=key,
        message=message.encode(),
        delay_ms=delay,
        last_error=str(error)[:1000],
    )
    logger.warning(
        "Redis is unavailable (%s); job %s for %s is stored in the outbox.",
        error,
        message.message_id,
        message.actor_name,
    )


def outbox_size() -> int:
    """Return the number of jobs waiting in the outbox, for the health report."""
    from queueadmin.models import OutboxMessage

    return OutboxMessage.objects.count()


@dataclass(frozen=True)
class RelayResult:
    sent: int = 0
    duplicates: int = 0
    remaining: int = 0


def relay(broker: dramatiq.Broker | None = None, *, limit: int | None = None) -> RelayResult:
    """Send outbox rows in ``id`` order and delete them; stop at the first broker error.

    Each row is deleted in a transaction that stays open while the message is
    sent, so two relays running at once never send the same row, and a failed
    send puts the row back. ``limit`` caps the rows handled in one call.
    """
    from queueadmin.models import OutboxMessage

    broker = broker or dramatiq.get_broker()
    sent = duplicates = 0
    row_ids = list(OutboxMessage.objects.order_by("id").values_list("id", flat=True)[:limit])
    for row_id in row_ids:
        try:
            outcome = _relay_row(broker, row_id)
        except BROKER_UNAVAILABLE_ERRORS as exc:
            OutboxMessage.objects.filter(id=row_id).update(last_error=str(exc)[:1000])
            logger.warning("Relaying the outbox stopped: Redis is unavailable (%s).", exc)
            break
        sent += outcome == "sent"
        duplicates += outcome == "duplicate"
    result = RelayResult(sent=sent, duplicates=duplicates, remaining=outbox_size())
    if sent or duplicates:
        logger.info(
            "Relayed the outbox: %d sent, %d duplicates dropped, %d remaining.",
            result.sent,
            result.duplicates,
            result.remaining,
        )
    return result


def _relay_row(broker: dramatiq.Broker, row_id: int) -> str:
    from queueadmin.models import OutboxMessage
    from queueadmin.records import record_duplicate

    with transaction.atomic():
        row = OutboxMessage.objects.filter(id=row_id).first()
        if row is None or OutboxMessage.objects.filter(id=row_id).delete()[0] == 0:
            return "gone"
        message = Message.decode(bytes(row.message))
        key = row.idempotency_key or get_envelope(message).idempotency_key
        outcome = send_with_key(broker, message, row.delay_ms, key)
        if outcome.job_id != message.message_id:
            logger.info(
                "Dropping outbox job %s for %s: idempotency key %r belongs to job %s.",
                message.message_id,
                message.actor_name,
                key,
                outcome.job_id,
            )
            record_duplicate(message, outcome.job_id)
            return "duplicate"
        if not outcome.sent:
            # A relay that sent the row stopped before deleting it.
            logger.info(
                "Dropping outbox job %s for %s: it was sent before.",
                message.message_id,
                message.actor_name,
            )
            return "duplicate"
        logger.info("Sent outbox job %s for %s.", message.message_id, message.actor_name)
        return "sent"
