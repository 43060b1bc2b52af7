"""Write the life of each job into ``JobRecord`` rows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone as django_timezone

from queueadmin.context import current_job
from queueadmin.envelope import ENVELOPE_OPTION
from queueadmin.models import JobRecord, JobStatus
from queueadmin.priorities import PRIORITY_RANKS, get_priority
from queueadmin.statuses import FINISHED_STATUSES

logger = logging.getLogger(__name__)

SUMMARY_LENGTH = 255

#: Ids of jobs whose records a bulk enqueue has just created, so that the
#: per-message ``before_enqueue`` hook does not write them again.
recorded_in_bulk: ContextVar[frozenset[str]] = ContextVar("recorded_in_bulk", default=frozenset())

_UNSENT_STATUSES = (JobStatus.ENQUEUED, JobStatus.DELAYED)


def _from_millis(value: int | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)


def _new_record(message: Any, delay: int | None, now: datetime) -> JobRecord:
    # The option dict is read directly: parsing it into a JobEnvelope would
    # cost more than the insert itself in bulk enqueues.
    envelope = message.options.get(ENVELOPE_OPTION)
    record = JobRecord(
        job_id=message.message_id,
        actor=message.actor_name,
        queue=message.queue_name.removesuffix(".DQ"),
        status=JobStatus.DELAYED if delay else JobStatus.ENQUEUED,
        priority=PRIORITY_RANKS[get_priority(message)],
        enqueued_at=now,
        eta=now + timedelta(milliseconds=delay) if delay else None,
        payload=message.args[0] if message.args else {},
    )
    if envelope is not None:
        record.idempotency_key = envelope["idempotency_key"]
        record.correlation_id = envelope["correlation_id"]
        record.user_id = envelope.get("user_id") or ""
    return record


def record_enqueued(message: Any, delay: int | None) -> None:
    """Create the record of a new job; leave an existing record alone."""
    if message.message_id in recorded_in_bulk.get():
        return
    record = _new_record(message, delay, django_timezone.now())
    try:
        with transaction.atomic():
            record.save(force_insert=True)
    except IntegrityError:
        logger.debug("Job record %s exists already.", message.message_id)


def record_enqueued_many(messages: Sequence[Any], delay: int | None) -> None:
    """Create the records of new jobs in one query; existing records stay as they are."""
    now = django_timezone.now()
    records = [_new_record(message, delay, now) for message in messages]
    JobRecord.objects.bulk_create(records, ignore_conflicts=True)


def discard_records(job_ids: Sequence[str]) -> None:
    """Delete the records of jobs that were recorded but never sent."""
    if job_ids:
        JobRecord.objects.filter(job_id__in=list(job_ids), status__in=_UNSENT_STATUSES).delete()


def record_cancelled(job_id: str, reason: str) -> None:
    """Mark a job that was removed before it ran as cancelled."""
    JobRecord.objects.filter(job_id=job_id).update(
        status=JobStatus.CANCELLED, finished_at=django_timezone.now(), last_error=reason
    )


def record_retry_scheduled(message: Any, delay: int | None) -> None:
    eta = django_timezone.now() + timedelta(milliseconds=delay or 0)
    JobRecord.objects.filter(job_id=message.message_id).update(
        status=JobStatus.RETRYING, eta=eta
    )


def record_started(message: Any) -> None:
    JobRecord.objects.filter(job_id=message.message_id).update(
        status=JobStatus.RUNNING,
        started_at=django_timezone.now(),
        finished_at=None,
        attempts=message.options.get("retries", 0) + 1,
    )


def record_succeeded(message: Any, result: Any, duration_ms: int) -> None:
    summary = message.options.get("result_summary", "")
    if result is not None:
        summary = repr(result)[:SUMMARY_LENGTH]
    JobRecord.objects.filter(job_id=message.message_id).update(
        status=JobStatus.SUCCEEDED,
        finished_at=django_timezone.now(),
        duration_ms=duration_ms,
        result_summary=summary,
        progress=100,
    )


def record_failed_attempt(message: Any, duration_ms: int, *, dead: bool) -> None:
    fields = {
        "duration_ms": duration_ms,
        "last_error": message.options.get("last_error", ""),
        "traceback": message.options.get("traceback", ""),
    }
    if dead:
        fields["status"] = JobStatus.DEAD
        fields["finished_at"] = django_timezone.now()
    JobRecord.objects.filter(job_id=message.message_id).update(**fields)


def record_skipped(message: Any, status: str, reason: str) -> None:
    # A skip may also mean "sent again later" (for example by a rate limit),
    # and such a job is not finished.
    finished_at = django_timezone.now() if status in FINISHED_STATUSES else None
    JobRecord.objects.filter(job_id=message.message_id).update(
        status=status,
        finished_at=finished_at,
        last_error=reason,
    )


def report_progress(percent: int, message: str = "") -> None:
    """Record the running job's progress, 0 to 100, with a short message.

    Outside a job (for example when a test calls the job function directly)
    this does nothing.
    """
    if not 0 <= percent <= 100:
        raise ValueError(f"percent must be between 0 and 100, got {percent}.")
    job = current_job.get()
    if job is None:
        return
    JobRecord.objects.filter(job_id=job.job_id).update(
        progress=percent, progress_message=message[:SUMMARY_LENGTH]
    )
    logger.info("Progress %d%%: %s", percent, message)
