"""Delete finished job records, dead letters and completion markers past their age."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import dramatiq
from django.conf import settings
from django.db.models import Count, QuerySet
from django.utils import timezone

from queueadmin import idempotency
from queueadmin.models import JobCompletion, JobRecord
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
    completions: int = 0


def _delete_in_batches(queryset: QuerySet) -> int:
    deleted = 0
    while True:
        ids = list(queryset.values_list("id", flat=True)[:DELETE_BATCH_SIZE])
        if not ids:
            return deleted
        deleted += queryset.model.objects.filter(id__in=ids).delete()[0]


def _delete_finished(statuses: list[str], older_than: timedelta) -> int:
    cutoff = timezone.now() - older_than
    return _delete_in_batches(JobRecord.objects.filter(status__in=statuses, finished_at__lt=cutoff))


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


def _actors_with_own_ttl() -> dict[str, int]:
    broker = dramatiq.get_broker()
    ttls = {}
    for name in broker.get_declared_actors():
        options = broker.get_actor(name).options
        if options.get(idempotency.TTL_OPTION):
            ttls[name] = idempotency.get_ttl_seconds(options)
    return ttls


def delete_expired_completions() -> int:
    """Delete ``JobCompletion`` markers older than their actor's idempotency TTL; return how many.

    The TTL is the actor's ``idempotency_ttl`` option or
    ``QUEUE_IDEMPOTENCY_TTL_SECONDS``, the lifetime of the Redis markers too.
    Markers of actors not declared in this process expire after the setting.
    """
    now = timezone.now()
    own_ttls = _actors_with_own_ttl()
    default_cutoff = now - timedelta(seconds=settings.QUEUE_IDEMPOTENCY_TTL_SECONDS)
    deleted = _delete_in_batches(
        JobCompletion.objects.filter(completed_at__lt=default_cutoff).exclude(
            actor__in=list(own_ttls)
        )
    )
    for actor_name, ttl in own_ttls.items():
        cutoff = now - timedelta(seconds=ttl)
        deleted += _delete_in_batches(
            JobCompletion.objects.filter(actor=actor_name, completed_at__lt=cutoff)
        )
    return deleted


def apply_retention() -> CleanResult:
    """Clean with the ages of the retention settings and delete expired completion markers."""
    result = clean(
        timedelta(seconds=settings.QUEUE_JOB_RECORD_RETENTION_SECONDS),
        dead_letters_older_than=timedelta(
            seconds=settings.QUEUE_DEAD_LETTER_RETENTION_SECONDS
        ),
    )
    completions = delete_expired_completions()
    logger.info("Deleted %d expired completion markers.", completions)
    return CleanResult(result.job_records, result.dead_letters, completions)
