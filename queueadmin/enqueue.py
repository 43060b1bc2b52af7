"""Build a job's message and send it to the broker, after the commit if needed."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from dramatiq import Message

from queueadmin.context import get_correlation_id, new_correlation_id
from queueadmin.encoding import encode_value
from queueadmin.envelope import ENVELOPE_OPTION, JobEnvelope
from queueadmin.errors import InvalidPayloadError, PayloadTooLargeError
from queueadmin.priorities import PRIORITY_OPTION, Priority

if TYPE_CHECKING:
    from pydantic import BaseModel

    from queueadmin.actors import JobActor

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnqueueRequest:
    """Options of one enqueue call beside the payload."""

    idempotency_key: str | None = None
    correlation_id: str | None = None
    user_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    delay: int | timedelta | None = None
    eta: datetime | None = None
    priority: Priority = Priority.NORMAL

    def delay_ms(self) -> int | None:
        """Return the delay in milliseconds, from ``delay`` or ``eta``."""
        if self.delay is not None and self.eta is not None:
            raise ValueError("Pass either delay or eta, not both.")
        if isinstance(self.delay, timedelta):
            return max(0, int(self.delay.total_seconds() * 1000))
        if self.delay is not None:
            if self.delay < 0:
                raise ValueError(f"delay must be >= 0 milliseconds, got {self.delay}.")
            return int(self.delay)
        if self.eta is not None:
            if self.eta.tzinfo is None:
                raise ValueError(f"eta must be timezone-aware, got {self.eta!r}.")
            remaining = self.eta - datetime.now(timezone.utc)
            return max(0, int(remaining.total_seconds() * 1000))
        return None


def build_message(actor: JobActor, payload: BaseModel, request: EnqueueRequest) -> Message:
    """Return the Dramatiq message for a validated payload.

    Raises:
      UnencodableValueError, PayloadTooLargeError, InvalidPayloadError
    """
    encoded_payload = encode_value(payload.model_dump(mode="python"), "payload")
    message = actor.actor.message_with_options(args=(encoded_payload,))
    envelope = _build_envelope(actor, message.message_id, request)
    return finish_message(actor, message, envelope.to_option(), request)


def finish_message(
    actor: JobActor, message: Message, envelope_option: dict[str, Any], request: EnqueueRequest
) -> Message:
    """Add the envelope and the priority to a message and check its encoded size.

    Raises:
      PayloadTooLargeError: the encoded message is over ``QUEUE_MAX_PAYLOAD_BYTES``.
    """
    message = message.copy(
        options={ENVELOPE_OPTION: envelope_option, PRIORITY_OPTION: request.priority.value}
    )

    size = len(message.encode())
    limit = settings.QUEUE_MAX_PAYLOAD_BYTES
    if size > limit:
        raise PayloadTooLargeError(actor.actor_name, size, limit)
    return message


def build_envelope(actor: JobActor, message_id: str, request: EnqueueRequest) -> JobEnvelope:
    """Return the validated envelope of a job.

    Raises:
      InvalidPayloadError: an envelope field (key, correlation id, metadata) is invalid.
    """
    return _build_envelope(actor, message_id, request)


def _build_envelope(actor: JobActor, message_id: str, request: EnqueueRequest) -> JobEnvelope:
    from pydantic import ValidationError

    from queueadmin.actors import describe_validation_error

    try:
        return JobEnvelope(
            idempotency_key=request.idempotency_key or message_id,
            correlation_id=request.correlation_id or get_correlation_id() or new_correlation_id(),
            user_id=request.user_id,
            metadata=request.metadata,
        )
    except ValidationError as exc:
        raise InvalidPayloadError(actor.actor_name, describe_validation_error(exc)) from None


def send_job(actor: JobActor, payload: BaseModel, request: EnqueueRequest) -> str:
    """Send the job now, or after the commit inside an atomic block; return its id."""
    message = build_message(actor, payload, request)
    delay = request.delay_ms()

    def send() -> None:
        actor.actor.broker.enqueue(message, delay=delay)
        logger.info(
            "Enqueued job %s for %s on queue %s (delay=%s ms, priority=%s).",
            message.message_id,
            actor.actor_name,
            message.queue_name,
            delay,
            request.priority.value,
        )

    transaction.on_commit(send)
    return message.message_id
