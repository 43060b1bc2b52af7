"""Dead letters: list, inspect, send again with fresh attempts, purge.

Dead letters are job records with status ``dead``. Each keeps the actor,
queue, payload, message options (with the envelope), last error, traceback,
attempts and timings, so a retry rebuilds the message from the record and
works on any broker. The broker's own copy (Redis: the ``.XQ`` set) is
removed on a best-effort basis.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import dramatiq
from dramatiq import Message
from dramatiq.errors import ActorNotFound
from django.db.models import QuerySet
from django.utils import timezone

from queueadmin.brokerqueues import remove_dead_letter_copy
from queueadmin.cancellation import get_record
from queueadmin.controlerrors import JobStateError
from queueadmin.models import JobRecord
from queueadmin.records import flush_job_events
from queueadmin.redisclient import dead_letter_count_key, get_redis
from queueadmin.statuses import JobStatus

logger = logging.getLogger(__name__)

#: Message option set on a dead letter sent again, read by the idempotency check.
RETRIED_FROM_DEAD_LETTER_OPTION = "retried_from_dead_letter"
#: Records read per query while retrying or purging many dead letters.
BATCH_SIZE = 500


def dead_letters(queue: str | None = None, actor: str | None = None) -> QuerySet[JobRecord]:
    """Return the dead letters, newest first, optionally of one queue or actor."""
    queryset = JobRecord.objects.filter(status=JobStatus.DEAD)
    if queue:
        queryset = queryset.filter(queue=queue)
    if actor:
        queryset = queryset.filter(actor=actor)
    return queryset.order_by("-id")


def count_dead_letters() -> dict[str, int]:
    """Return the dead-letter count per queue from the Redis counters."""
    counts = get_redis().hgetall(dead_letter_count_key())
    return {name.decode(): max(0, int(value)) for name, value in counts.items()}


def build_message(record: JobRecord) -> Message:
    """Return a message for the record's job: same id, fresh attempts."""
    options = {
        **record.options,
        "retries": 0,
        RETRIED_FROM_DEAD_LETTER_OPTION: True,
    }
    return Message(
        queue_name=record.queue,
        actor_name=record.actor,
        args=(record.payload,),
        kwargs={},
        options=options,
        message_id=record.job_id,
        message_timestamp=int(time.time() * 1000),
    )


def _send_again(record: JobRecord) -> None:
    broker = dramatiq.get_broker()
    try:
        broker.get_actor(record.actor)
    except ActorNotFound:
        raise JobStateError(
            f"Job {record.job_id} cannot be retried: actor {record.actor!r} is not declared."
        ) from None
    broker.enqueue(build_message(record))
    get_redis().hincrby(dead_letter_count_key(), record.queue, -1)
    remove_dead_letter_copy(record.queue, record.broker_message_id)
    logger.info("Sent dead letter %s (%s) again.", record.job_id, record.actor)


def retry_dead_letter(job_id: str) -> JobRecord:
    """Send one dead letter again with its job id and fresh attempts.

    Raises:
      JobNotFoundError: no record has that id.
      JobStateError: the job is not dead, or its actor no longer exists.
    """
    record = get_record(job_id)
    if record.status != JobStatus.DEAD:
        raise JobStateError(f"Job {job_id} is {record.status}; only dead jobs can be retried.")
    _send_again(record)
    return get_record(job_id)


def retry_dead_letters(queue: str | None = None, actor: str | None = None) -> list[str]:
    """Send every dead letter (of ``queue`` and ``actor`` if given) again.

    Returns the job ids sent. Dead letters whose actor no longer exists stay.
    """
    flush_job_events(wait=True)
    sent: list[str] = []
    last_id = None
    while True:
        batch = dead_letters(queue, actor)
        if last_id is not None:
            batch = batch.filter(id__lt=last_id)
        records = list(batch[:BATCH_SIZE])
        if not records:
            return sent
        for record in records:
            try:
                _send_again(record)
            except JobStateError as exc:
                logger.warning("%s", exc)
                continue
            sent.append(record.job_id)
        last_id = records[-1].id


def purge_dead_letters(
    older_than: timedelta | None = None, queue: str | None = None
) -> int:
    """Delete dead letters (older than ``older_than`` if given); return the count."""
    from queueadmin.cleaning import sync_dead_letter_counts

    flush_job_events(wait=True)
    queryset = dead_letters(queue)
    if older_than is not None:
        queryset = queryset.filter(finished_at__lt=timezone.now() - older_than)
    deleted = 0
    while True:
        ids = list(queryset.values_list("id", flat=True)[:BATCH_SIZE])
        if not ids:
            break
        deleted += _delete(ids)
    sync_dead_letter_counts()
    logger.info("Purged %d dead letters.", deleted)
    return deleted


def _delete(ids: list[int]) -> int:
    rows = JobRecord.objects.filter(id__in=ids, status=JobStatus.DEAD)
    for queue_name, broker_message_id in rows.values_list("queue", "broker_message_id"):
        remove_dead_letter_copy(queue_name, broker_message_id)
    return rows.delete()[0]


def delete_dead_letters(ids: list[int]) -> int:
    """Delete the dead letters with these record ids; return how many were deleted."""
    from queueadmin.cleaning import sync_dead_letter_counts

    deleted = _delete(ids)
    sync_dead_letter_counts()
    logger.info("Deleted %d dead letters.", deleted)
    return deleted
