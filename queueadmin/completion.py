"""Write a job's database side effect and its completion marker in one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import IntegrityError, transaction
from dramatiq.middleware import CurrentMessage

from queueadmin.envelope import get_envelope
from queueadmin.errors import UnrecoverableError


class DuplicateCompletionError(UnrecoverableError):
    """Raised when another job with the same actor and idempotency key completed first.

    The block's changes are rolled back, so the side effect happens once.
    """


def _current_job_key() -> tuple[str, str, str] | None:
    message = CurrentMessage.get_current_message()
    if message is None:
        return None
    envelope = get_envelope(message)
    key = envelope.idempotency_key if envelope else message.message_id
    return message.actor_name, key, message.message_id


def get_completing_job(actor_name: str, idempotency_key: str) -> str | None:
    """Return the id of the job of ``actor_name`` that committed the key's marker, if any."""
    from queueadmin.models import JobCompletion

    return (
        JobCompletion.objects.filter(actor=actor_name, idempotency_key=idempotency_key)
        .values_list("job_id", flat=True)
        .first()
    )


@contextmanager
def complete_once(using: str | None = None) -> Iterator[None]:
    """Run the block in ``transaction.atomic()`` and record the running job's completion.

    The marker row commits with the block's writes. For an actor declared
    with ``completion_marker=True``, a redelivered message whose marker exists
    is skipped by the idempotency middleware before the actor runs; for other
    actors the block raises ``DuplicateCompletionError`` instead, because
    looking the marker up costs every job a database query. Outside a job (a direct call in a test) the block runs in a
    transaction without a marker.

    Raises:
      DuplicateCompletionError: a job with the same key committed first; the
        block's writes are rolled back.
    """
    from queueadmin.models import JobCompletion

    job = _current_job_key()
    try:
        with transaction.atomic(using=using):
            yield
            if job is not None:
                actor_name, key, job_id = job
                JobCompletion.objects.using(using).create(
                    actor=actor_name, idempotency_key=key, job_id=job_id
                )
    except IntegrityError as exc:
        if job is None or get_completing_job(job[0], job[1]) is None:
            raise
        raise DuplicateCompletionError(
            f"Job {job[2]} of {job[0]} with idempotency key {job[1]!r} was completed "
            "by another job; its changes were rolled back."
        ) from exc
