"""Build a job's message and send it to the broker, after the commit if needed."""

from __future__ import annotations

import logging
import time
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
from queueadmin.envelope import (
    ENVELOPE_OPTION,
    MAX_CORRELATION_ID_LENGTH,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_USER_ID_LENGTH,
    JobEnvelope,
    get_envelope,
)
from queueadmin.errors import InvalidPayloadError, PayloadTooLargeError
from queueadmin.ids import new_job_ids
from queueadmin.messages import new_message
from queueadmin.priorities import PRIORITY_OPTION, PRIORITY_VALUES, Priority

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
    message = _new_message(actor, payload, request)
    check_size(message, actor.actor_name)
    return message


def _new_message(actor: JobActor, payload: BaseModel, request: EnqueueRequest) -> Message:
    # The message of build_message before its size check.
    encoded_payload = encode_value(payload.model_dump(mode="python"), "payload")
    (job_id,) = new_job_ids(1)
    envelope_option = build_envelope_option(actor, job_id, request)
    return job_message(
        actor.queue_name,
        actor.actor_name,
        job_id,
        encoded_payload,
        envelope_option,
        PRIORITY_VALUES[request.priority],
        int(time.time() * 1000),
    )


def job_message(
    queue_name: str,
    actor_name: str,
    job_id: str,
    encoded_payload: Any,
    envelope_option: dict[str, Any],
    priority_value: str,
    timestamp_ms: int,
) -> Message:
    """Return the Dramatiq message of one job, with its envelope and priority options.

    The caller passes the actor's names and the stored priority value, so a
    bulk send looks them up once for all its jobs.
    """
    # Built once with its final options, because ``Actor.message_with_options``
    # followed by ``Message.copy`` builds two messages, and the copy goes
    # through ``dataclasses.replace``.
    return new_message(
        queue_name,
        actor_name,
        (encoded_payload,),
        {},
        {ENVELOPE_OPTION: envelope_option, PRIORITY_OPTION: priority_value},
        job_id,
        timestamp_ms,
    )


def check_size(message: Message, label: str) -> None:
    """Check that ``message`` encodes to at most ``QUEUE_MAX_PAYLOAD_BYTES``.

    Raises:
      PayloadTooLargeError: naming ``label`` (the actor, or the actor and the
        item's index in a bulk send).
    """
    _check_encoded_size(message, label, settings.QUEUE_MAX_PAYLOAD_BYTES)


def _check_encoded_size(message: Message, label: str, limit: int) -> None:
    size = len(encode_message(message))
    if size > limit:
        raise PayloadTooLargeError(label, size, limit)


def build_envelope_option(actor: JobActor, job_id: str, request: EnqueueRequest) -> dict[str, Any]:
    """Return the validated envelope of a job as the JSON-safe dict of its message options.

    The result equals ``JobEnvelope(...).to_option()``. Field values that
    meet the model's rules as they are (plain strings within the length
    limits, a dict with string keys) skip the model, which would cost each
    job several microseconds. Any other value goes through ``JobEnvelope``.

    Raises:
      InvalidPayloadError: an envelope field (key, correlation id, user id,
        metadata) is invalid.
      UnencodableValueError: a metadata value has no JSON encoding.
    """
    key = request.idempotency_key or job_id
    correlation_id = request.correlation_id or get_correlation_id() or new_correlation_id()
    user_id = request.user_id
    metadata = request.metadata
    if not _meets_envelope_rules(key, correlation_id, user_id, metadata):
        return _validate_envelope(actor, key, correlation_id, user_id, metadata).to_option()
    return {
        "idempotency_key": key,
        "correlation_id": correlation_id,
        "user_id": user_id,
        # Copied as the model copies it, so a caller that changes its dict
        # after the enqueue does not change the job.
        "metadata": encode_value(dict(metadata), "metadata"),
        "created_at": datetime.now(timezone.utc).isoformat(),
    }


def _meets_envelope_rules(key: Any, correlation_id: Any, user_id: Any, metadata: Any) -> bool:
    # The rules of JobEnvelope's fields, for values that need no conversion.
    return (
        type(key) is str
        and 0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH
        and type(correlation_id) is str
        and 0 < len(correlation_id) <= MAX_CORRELATION_ID_LENGTH
        and (user_id is None or (type(user_id) is str and len(user_id) <= MAX_USER_ID_LENGTH))
        and type(metadata) is dict
        and all(type(name) is str for name in metadata)
    )


def _validate_envelope(
    actor: JobActor, key: Any, correlation_id: Any, user_id: Any, metadata: Any
) -> JobEnvelope:
    from pydantic import ValidationError

    from queueadmin.actors import describe_validation_error

    try:
        return JobEnvelope(
            idempotency_key=key,
            correlation_id=correlation_id,
            user_id=user_id,
            metadata=metadata,
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
    in_transaction = transaction.get_connection().in_atomic_block
    # Outside a transaction the broker checks the size on the bytes it
    # sends, so the message is encoded once. Inside one the check cannot
    # wait for the commit, so it runs now.
    # NOTE: the broker's check counts the delivery options that it adds
    # (the Redis message id and the due time, about 100 bytes), and the
    # check inside a transaction does not.
    message = (build_message if in_transaction else _new_message)(actor, payload, request)
    delay = request.delay_ms()
    broker = actor.actor.broker
    key = message.options[ENVELOPE_OPTION]["idempotency_key"]

    if in_transaction:
        existing = _find_existing_job(broker, actor, key)
        if existing is not None:
            _log_duplicate(actor, message, existing)
            return existing
        _records().insert_in_transaction(message, delay)
        transaction.on_commit(lambda: deliver(broker, message, delay, key=key, committed=True))
        return message.message_id
    return deliver(
        broker, message, delay, key=key, max_message_bytes=settings.QUEUE_MAX_PAYLOAD_BYTES
    )


def deliver(
    broker: Broker,
    message: Message,
    delay: int | None,
    *,
    key: str,
    committed: bool = False,
    max_message_bytes: int | None = None,
) -> str:
    """Claim the idempotency key and enqueue ``message``; return the job id that holds the key.

    ``committed`` is True when the caller already returned ``message``'s id
    (a send after the commit); a duplicate then gets a record that names the
    job it duplicates. Falls back to the outbox when Redis cannot be reached.

    Raises:
      PayloadTooLargeError: the encoded message is over ``max_message_bytes``.
        Nothing was sent.
    """
    from queueadmin import outbox

    actor = broker.get_actor(message.actor_name)
    try:
        outcome = send_with_key(broker, message, delay, key, max_message_bytes=max_message_bytes)
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


def send_with_key(
    broker: Broker,
    message: Message,
    delay: int | None,
    key: str,
    *,
    max_message_bytes: int | None = None,
) -> SendOutcome:
    """Send ``message`` unless a job already owns its idempotency key.

    On the project broker the key check, the key write and the send are one
    Redis script call, so a key that names ``message`` itself means that an
    earlier call sent it, and it is not sent again.

    Raises:
      PayloadTooLargeError: the encoded message is over ``max_message_bytes``.
        The key is not claimed and nothing is sent.
    """
    actor = broker.get_actor(message.actor_name)
    ttl = idempotency.get_ttl_seconds(actor.options)
    if isinstance(broker, ProjectRedisBroker):
        holder = broker.send_one(
            message,
            delay=delay,
            idempotency_key=f"{actor.actor_name}:{key}",
            idempotency_ttl=ttl,
            max_message_bytes=max_message_bytes,
        )
        return SendOutcome(holder or message.message_id, sent=holder is None)
    if max_message_bytes is not None:
        _check_encoded_size(message, actor.actor_name, max_message_bytes)
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
