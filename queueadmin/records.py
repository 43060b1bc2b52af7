"""Write the life of each job into ``JobRecord`` rows."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone as django_timezone

from queueadmin.context import current_job
from queueadmin.envelope import get_envelope
from queueadmin.models import JobRecord, JobStatus

logger = logging.getLogger(__name__)

SUMMARY_LENGTH = 255


def _from_millis(value: int | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)


def record_enqueued(message: Any, delay: int | None) -> None:
    """Create the record of a new job; leave an existing record alone."""
    envelope = get_envelope(message)
    now = django_timezone.now()
    fields = {
        "actor": message.actor_name,
        "queue": message.queue_name.removesuffix(".DQ"),
        "status": JobStatus.DELAYED if delay else JobStatus.ENQUEUED,
        "priority": message.options.get("priority", 0),
        "enqueued_at": now,
        "eta": now + timedelta(milliseconds=delay) if delay else None,
        "payload": message.args[0] if message.args else {},
    }
    if envelope is not None:
        fields["idempotency_key"] = envelope.idempotency_key
        fields["correlation_id"] = envelope.correlation_id
        fields["user_id"] = envelope.user_id or ""
    try:
        with transaction.atomic():
            JobRecord.objects.create(job_id=message.message_id, **fields)
    except IntegrityError:
        logger.debug("Job record %s exists already.", message.message_id)


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
    JobRecord.objects.filter(job_id=message.message_id).update(
        status=status,
        finished_at=django_timezone.now(),
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


def record_duplicate(message: Any, existing_job_id: str) -> None:
    """Record a job that was not sent because ``existing_job_id`` holds its key."""
    envelope = get_envelope(message)
    try:
        with transaction.atomic():
            JobRecord.objects.create(
                job_id=message.message_id,
                actor=message.actor_name,
                queue=message.queue_name.removesuffix(".DQ"),
                status=JobStatus.SKIPPED,
                idempotency_key=envelope.idempotency_key if envelope else "",
                correlation_id=envelope.correlation_id if envelope else "",
                user_id=(envelope.user_id or "") if envelope else "",
                payload=message.args[0] if message.args else {},
                finished_at=django_timezone.now(),
                last_error=f"duplicate of job {existing_job_id}",
            )
    except IntegrityError:
        logger.debug("Job record %s exists already.", message.message_id)
