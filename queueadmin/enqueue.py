"""Build a job's message and send it to the broker, after the commit if needed."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from dramatiq import Broker, Message

from queueadmin import idempotency
from queueadmin.broker import ProjectRedisBroker
from queueadmin.context import get_correlation_id, new_correlation_id
from queueadmin.encoding import encode_message, encode_value
from queueadmin.envelope import ENVELOPE_OPTION, JobEnvelope, get_envelope
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
    check_size(message, actor.actor_name)
    return message


def check_size(message: Message, label: str) -> None:
    """Check that ``message`` encodes to at most ``QUEUE_MAX_PAYLOAD_BYTES``.

    Raises:
      PayloadTooLargeError: naming ``label`` (the actor, or the actor and the
        item's index in a bulk send).
    """
    size = len(encode_message(message))
    limit = settings.QUEUE_MAX_PAYLOAD_BYTES
    if size > limit:
        raise PayloadTooLargeError(label, size, limit)


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
    """Send the job and return its id, or the id of the job that holds its idempotency key.

    Outside a transaction the job is sent at once. Inside ``transaction.atomic()``
    it is sent after the outermost commit and dropped on rollback; the key is
    looked up at once (so a known duplicate returns the existing id) and
    claimed at the commit. The job's record is inserted in that transaction. A
    job that loses the key at the commit is not sent, and its record says which
    job it duplicates.

    When Redis cannot be reached the job goes to the outbox table and
    ``relay_outbox`` sends it later, so enqueueing neither raises a broker
    error nor loses the job.
    """
    message = build_message(actor, payload, request)
    delay = request.delay_ms()
    broker = actor.actor.broker
    key = get_envelope(message).idempotency_key

    if transaction.get_connection().in_atomic_block:
        existing = _find_existing_job(broker, actor, key)
        if existing is not None:
            _log_duplicate(actor, message, existing)
            return existing
        _records().insert_in_transaction(message, delay)
        transaction.on_commit(lambda: deliver(broker, message, delay, key=key, committed=True))
        return message.message_id
    return deliver(broker, message, delay, key=key)


def deliver(
    broker: Broker, message: Message, delay: int | None, *, key: str, committed: bool = False
) -> str:
    """Claim the idempotency key and enqueue ``message``; return the job id that holds the key.

    ``committed`` is True when the caller already returned ``message``'s id
    (a send after the commit); a duplicate then gets a record that names the
    job it duplicates. Falls back to the outbox when Redis cannot be reached.
    """
    from queueadmin import outbox

    actor = broker.get_actor(message.actor_name)
    try:
        outcome = send_with_key(broker, message, delay, key)
    except outbox.BROKER_UNAVAILABLE_ERRORS as exc:
        outbox.store(message, delay, key=key, error=exc)
        return message.message_id
    if outcome.job_id != message.message_id:
        _log_duplicate(actor, message, outcome.job_id)
        if committed:
            # The caller already has this job's id, so record what became of it.
            _records().record_duplicate(message, outcome.job_id)
        return outcome.job_id
    if not outcome.sent:
        logger.info("Job %s for %s was enqueued before.", message.message_id, actor.actor_name)
        return message.message_id
    # Debug, not info: a busy producer enqueues thousands of jobs a second,
    # and each job's record keeps the same facts.
    logger.debug(
        "Enqueued job %s for %s on queue %s (delay=%s ms, priority=%s).",
        message.message_id,
        actor.actor_name,
        message.queue_name,
        delay,
        message.options.get(PRIORITY_OPTION, 0),
    )
    return message.message_id


@dataclass(frozen=True)
class SendOutcome:
    """Result of ``send_with_key``."""

    #: The job that owns the idempotency key.
    job_id: str
    #: Whether this call put the message on its queue.
    sent: bool


def send_with_key(broker: Broker, message: Message, delay: int | None, key: str) -> SendOutcome:
    """Send ``message`` unless a job already owns its idempotency key.

    On the project broker the key check, the key write and the send are one
    Redis script call, so a key that names ``message`` itself means that an
    earlier call sent it, and it is not sent again.
    """
    actor = broker.get_actor(message.actor_name)
    ttl = idempotency.get_ttl_seconds(actor.options)
    if isinstance(broker, ProjectRedisBroker):
        holder = broker.send_one(
            message,
            delay=delay,
            idempotency_key=f"{actor.actor_name}:{key}",
            idempotency_ttl=ttl,
        )
        return SendOutcome(holder or message.message_id, sent=holder is None)
    # NOTE: on other brokers the claim and the send are two calls. A key that
    # already names this job is sent again, because a crash between the two
    # calls may have left the key claimed and the job unsent.
    client = getattr(broker, "client", None)
    if client is not None:
        holder = idempotency.claim_enqueue_key(
            client, broker.namespace, actor.actor_name, key, message.message_id, ttl
        )
        if holder is not None and holder != message.message_id:
            return SendOutcome(holder, sent=False)
    broker.enqueue(message, delay=delay)
    return SendOutcome(message.message_id, sent=True)


def _find_existing_job(broker: Broker, actor: JobActor, key: str) -> str | None:
    from queueadmin import outbox

    client = getattr(broker, "client", None)
    if client is None:
        return None
    try:
        value = client.get(idempotency.enqueue_key(broker.namespace, actor.actor_name, key))
    except outbox.BROKER_UNAVAILABLE_ERRORS:
        # The claim at the commit decides, or the relay does.
        return None
    return value.decode() if value is not None else None


def _log_duplicate(actor: Any, message: Message, existing: str) -> None:
    logger.info(
        "Not enqueueing job %s for %s: idempotency key %r belongs to job %s.",
        message.message_id,
        actor.actor_name,
        get_envelope(message).idempotency_key,
        existing,
    )


def _records():
    from queueadmin import records

    return records
