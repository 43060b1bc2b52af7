"""Declare Dramatiq actors whose arguments are validated pydantic payloads.

Example::

    class MeetingJob(BaseModel):
        meeting_id: int

    @job_actor(queue=queues.MEETINGS, payload=MeetingJob)
    def process_meeting(job: MeetingJob) -> None:
        ...

    job_id = process_meeting.enqueue(meeting_id=42, correlation_id="abc")

The message carries the encoded payload as its one argument and the
``JobEnvelope`` in its options. The worker validates the payload again before
the function runs; a payload that fails there is dead-lettered at once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from collections.abc import Sequence
from typing import Any, Callable, Generic, TypeVar

import dramatiq
from dramatiq.middleware import CurrentMessage
from pydantic import BaseModel, ValidationError

from queueadmin.encoding import decode_value
from queueadmin.enqueue import EnqueueRequest, send_job
from queueadmin.errors import InvalidPayloadError
from queueadmin.priorities import Priority, parse_priority

logger = logging.getLogger(__name__)

#: Message option with ``repr()`` of the job function's return value.
RESULT_SUMMARY_OPTION = "result_summary"

PayloadT = TypeVar("PayloadT", bound=BaseModel)

#: The request of an enqueue call with no options. One instance is shared, so
#: that a call does not build one. Sharing is safe because it is frozen and
#: the envelope is built from a copy of its metadata.
_DEFAULT_REQUEST = EnqueueRequest()

#: Every declared job actor by actor name.
_job_actors: dict[str, JobActor] = {}


def import_task_modules() -> None:
    """Import the ``tasks`` modules of the installed apps, which declare the actors."""
    from django.conf import settings
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules(*settings.DRAMATIQ_AUTODISCOVER_MODULES)


def get_job_actor(actor_name: str) -> JobActor:
    """Return the job actor declared as ``actor_name``.

    On a miss, the ``tasks`` modules of the installed apps are imported first
    (``DRAMATIQ_AUTODISCOVER_MODULES``), as the worker command does.

    Raises:
      LookupError: no job actor has that name.
    """
    if actor_name not in _job_actors:
        import_task_modules()
    try:
        return _job_actors[actor_name]
    except KeyError:
        known = ", ".join(sorted(_job_actors)) or "none"
        raise LookupError(f"Unknown job actor {actor_name!r}; declared: {known}.") from None


def describe_validation_error(exc: ValidationError) -> list[tuple[str, str]]:
    """Return ``(field, message)`` pairs, with the received value in each message."""
    errors = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "payload"
        message = error["msg"]
        if error["type"] != "missing":
            message = f"{message} (received {error.get('input')!r})"
        errors.append((field, message))
    return errors


class JobActor(Generic[PayloadT]):
    """A Dramatiq actor with a payload model and the job envelope."""

    def __init__(
        self,
        fn: Callable[[PayloadT], Any],
        *,
        queue: str,
        payload: type[PayloadT],
        actor_name: str | None = None,
        **options: Any,
    ) -> None:
        self.fn = fn
        self.payload_model = payload
        self.actor_name = actor_name or fn.__name__
        self.__doc__ = fn.__doc__
        self.__name__ = self.actor_name
        self.actor = dramatiq.actor(
            self._run,
            actor_name=self.actor_name,
            queue_name=queue,
            **options,
        )
        _job_actors[self.actor_name] = self

    @property
    def queue_name(self) -> str:
        return self.actor.queue_name

    @property
    def options(self) -> dict[str, Any]:
        return self.actor.options

    def validate(self, payload: PayloadT | dict[str, Any] | None = None, **fields: Any) -> PayloadT:
        """Return ``payload`` (or ``fields``) validated against the payload model.

        Raises:
          InvalidPayloadError: naming each invalid field.
        """
        if isinstance(payload, self.payload_model) and not fields:
            return payload
        data = payload.model_dump() if isinstance(payload, BaseModel) else dict(payload or {})
        data.update(fields)
        try:
            return self.payload_model.model_validate(data)
        except ValidationError as exc:
            raise InvalidPayloadError(self.actor_name, describe_validation_error(exc)) from None

    def enqueue(
        self,
        payload: PayloadT | dict[str, Any] | None = None,
        /,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        user_id: str | int | None = None,
        metadata: dict[str, Any] | None = None,
        delay: int | timedelta | None = None,
        eta: datetime | None = None,
        priority: Priority | str | None = None,
        **fields: Any,
    ) -> str:
        """Validate the payload, send the job and return its id.

        Inside ``transaction.atomic()`` the job is sent after the commit and
        dropped on rollback. ``delay`` is in milliseconds or a ``timedelta``;
        ``eta`` is an aware datetime, days or weeks ahead if needed. ``priority``
        is ``"high"``, ``"normal"`` (the default) or ``"low"``. The payload
        comes as a model, a dict or keyword arguments.

        Raises:
          InvalidPayloadError: a field failed validation.
          ValueError: an invalid ``priority``, ``delay`` or ``eta``.
          UnencodableValueError: a value has no JSON encoding.
          PayloadTooLargeError: the encoded job is over the size limit.
        """
        if (
            idempotency_key is None
            and correlation_id is None
            and user_id is None
            and metadata is None
            and delay is None
            and eta is None
            and priority is None
        ):
            request = _DEFAULT_REQUEST
        else:
            request = EnqueueRequest(
                idempotency_key=idempotency_key,
                correlation_id=correlation_id,
                user_id=None if user_id is None else str(user_id),
                metadata=metadata or {},
                delay=delay,
                eta=eta,
                priority=parse_priority(priority),
            )
        return send_job(self, self.validate(payload, **fields), request)

    def enqueue_many(
        self,
        payloads: Sequence[PayloadT | dict[str, Any]],
        *,
        priority: Priority | str | None = None,
        delay: int | timedelta | None = None,
        eta: datetime | None = None,
        idempotency_keys: Sequence[str | None] | None = None,
        correlation_id: str | None = None,
    ) -> list[str]:
        """Validate all payloads, send one job per payload and return the job ids.

        See ``queueadmin.bulk.enqueue_many`` for the contract.
        """
        from queueadmin.bulk import enqueue_many

        return enqueue_many(
            self,
            payloads,
            priority=priority,
            delay=delay,
            eta=eta,
            idempotency_keys=idempotency_keys,
            correlation_id=correlation_id,
        )

    def __call__(self, payload: PayloadT | dict[str, Any] | None = None, **fields: Any) -> Any:
        """Run the job function in this thread, without the broker."""
        return self.fn(self.validate(payload, **fields))

    def _run(self, encoded_payload: dict[str, Any]) -> Any:
        try:
            decoded = decode_value(encoded_payload)
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidPayloadError(self.actor_name, [("payload", str(exc))]) from None
        try:
            payload = self.payload_model.model_validate(decoded)
        except ValidationError as exc:
            raise InvalidPayloadError(self.actor_name, describe_validation_error(exc)) from None
        result = self.fn(payload)
        if result is not None:
            # Dramatiq warns about return values without a result backend, so
            # the job record gets a short summary instead.
            message = CurrentMessage.get_current_message()
            if message is not None:
                message.options[RESULT_SUMMARY_OPTION] = repr(result)[:255]
        return None

    def __repr__(self) -> str:
        return f"JobActor({self.actor_name!r}, queue={self.queue_name!r})"


def job_actor(
    *, queue: str, payload: type[PayloadT], actor_name: str | None = None, **options: Any
) -> Callable[[Callable[[PayloadT], Any]], JobActor[PayloadT]]:
    """Declare a job actor on ``queue`` whose argument is a ``payload`` model.

    ``options`` are Dramatiq actor options (``max_retries``, ``time_limit``,
    ``max_age``, ``on_failure`` and so on).
    """

    def decorator(fn: Callable[[PayloadT], Any]) -> JobActor[PayloadT]:
        return JobActor(fn, queue=queue, payload=payload, actor_name=actor_name, **options)

    return decorator
