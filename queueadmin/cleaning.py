"""Delete finished job records and dead letters older than a given age."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from queueadmin.models import JobRecord
from queueadmin.redisclient import dead_letter_count_key, get_redis
from queueadmin.statuses import FINISHED_STATUSES, JobStatus

logger = logging.getLogger(__name__)

#: Rows deleted per statement, so that no statement locks the table for long.
DELETE_BATCH_SIZE = 5000


@dataclass(frozen=True)
class CleanResult:
    """Rows deleted by one clean-up."""

    job_records: int
    dead_letters: int


def _delete_finished(statuses: list[str], older_than: timedelta) -> int:
    cutoff = timezone.now() - older_than
    deleted = 0
    while True:
        ids = list(
            JobRecord.objects.filter(status__in=statuses, finished_at__lt=cutoff).values_list(
                "id", flat=True
            )[:DELETE_BATCH_SIZE]
        )
        if not ids:
            return deleted
        deleted += JobRecord.objects.filter(id__in=ids).delete()[0]


def sync_dead_letter_counts() -> dict[str, int]:
    """Set the Redis dead-letter counters from the records; return them per queue.

    Counts rows with status ``dead`` through the ``(queue, status, id)`` index.
    """
    counts = dict(
        JobRecord.objects.filter(status=JobStatus.DEAD)
        .values_list("queue")
        .annotate(total=Count("id"))
        .values_list("queue", "total")
    )
    client = get_redis()
    pipeline = client.pipeline()
    pipeline.delete(dead_letter_count_key())
    if counts:
        pipeline.hset(dead_letter_count_key(), mapping=counts)
    pipeline.execute()
    return counts


def clean(
    older_than: timedelta, *, dead_letters_older_than: timedelta | None = None
) -> CleanResult:
    """Delete finished records (except dead letters) finished before ``older_than`` ago.

    With ``dead_letters_older_than``, dead letters that died before that age
    are deleted too; without it they stay.
    """
    finished = [status for status in FINISHED_STATUSES if status != JobStatus.DEAD]
    job_records = _delete_finished(finished, older_than)
    dead_letters = 0
    if dead_letters_older_than is not None:
        dead_letters = _delete_finished([JobStatus.DEAD], dead_letters_older_than)
        sync_dead_letter_counts()
    logger.info(
        "Deleted %d finished job records and %d dead letters.", job_records, dead_letters
    )
    return CleanResult(job_records=job_records, dead_letters=dead_letters)


def apply_retention() -> CleanResult:
    """Clean with the ages of the retention settings."""
    return clean(
        timedelta(seconds=settings.QUEUE_JOB_RECORD_RETENTION_SECONDS),
        dead_letters_older_than=timedelta(
            seconds=settings.QUEUE_DEAD_LETTER_RETENTION_SECONDS
        ),
    )
