"""The queue administration REST API, mounted under ``/api/queues/``.

Reads need a staff session or a staff user's token of any scope. Control
actions need a staff session with a CSRF token, or a token with the control
scope. Every control action is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.errors import HttpError

from queueadmin import cancellation, deadletters, firing, health, pausing, stats
from queueadmin.audit import Operator, audited
from queueadmin.auth import staff_auth
from queueadmin.cleaning import clean
from queueadmin.controlerrors import JobNotFoundError, JobStateError
from queueadmin.models import JobRecord, TokenScope
from queueadmin.queues import UnknownQueueError
from queueadmin.records import flush_job_events
from queueadmin.schemas import (
    MAX_PAGE_SIZE,
    AllQueuesStateOut,
    CleanIn,
    CleanOut,
    DeadLetterRetryIn,
    DeadLetterRetryOut,
    ErrorOut,
    HealthOut,
    JobDetailOut,
    JobOut,
    JobPage,
    QueueMetricsOut,
    QueueStateOut,
    ScheduleOut,
)
from queueadmin.statuses import JobStatus

router = Router(auth=staff_auth(TokenScope.READ), tags=["queues"])
CONTROL = staff_auth(TokenScope.CONTROL)
ERRORS = {404: ErrorOut, 409: ErrorOut}
#: Largest number of next fire times a schedule route lists.
MAX_NEXT_RUNS = 50


@contextmanager
def _as_http_errors() -> Iterator[None]:
    try:
        yield
    except (JobNotFoundError, UnknownQueueError, firing.ScheduleNotFoundError) as exc:
        raise HttpError(404, str(exc)) from None
    except JobStateError as exc:
        raise HttpError(409, str(exc)) from None


def _check_queue(queue: str | None) -> None:
    if queue is not None:
        with _as_http_errors():
            pausing.check_queue(queue)


def _page(queryset: QuerySet[JobRecord], cursor: int | None, limit: int) -> dict:
    if cursor is not None:
        queryset = queryset.filter(id__lt=cursor)
    items = list(queryset.order_by("-id")[: limit + 1])
    next_cursor = items[limit - 1].id if len(items) > limit else None
    return {"items": items[:limit], "next_cursor": next_cursor}


@router.get("/health", response={200: HealthOut, 503: HealthOut}, summary="Queue health")
def get_health(request: HttpRequest):
    """Return the health report; 503 when unhealthy, so a load balancer can act on it."""
    report = health.check_health()
    return Status(503 if report.status == health.UNHEALTHY else 200, report.as_dict())


@router.get("/metrics", response=dict[str, QueueMetricsOut], summary="Queue metrics")
def get_metrics(request: HttpRequest):
    """Return per queue: counts, throughput, percentiles in ms and failure rate."""
    return stats.get_queue_metrics()


@router.get("/jobs", response={200: JobPage, 404: ErrorOut}, summary="List jobs")
def list_jobs(
    request: HttpRequest,
    queue: str | None = None,
    actor: str | None = None,
    status: JobStatus | None = None,
    correlation_id: str | None = None,
    idempotency_key: str | None = None,
    enqueued_after: datetime | None = None,
    enqueued_before: datetime | None = None,
    cursor: int | None = Query(None, ge=1, description="next_cursor of the previous page"),
    limit: int = Query(50, ge=1, le=MAX_PAGE_SIZE),
):
    """List job records, newest first, with keyset pagination."""
    _check_queue(queue)
    flush_job_events()
    filters = {
        "queue": queue,
        "actor": actor,
        "status": status,
        "correlation_id": correlation_id,
        "idempotency_key": idempotency_key,
        "enqueued_at__gte": enqueued_after,
        "enqueued_at__lt": enqueued_before,
    }
    queryset = JobRecord.objects.filter(**{k: v for k, v in filters.items() if v is not None})
    return _page(queryset, cursor, limit)


@router.get("/jobs/{job_id}", response={200: JobDetailOut, 404: ErrorOut}, summary="Get a job")
def get_job(request: HttpRequest, job_id: str):
    with _as_http_errors():
        return cancellation.get_record(job_id)


@router.get("/dead-letters", response={200: JobPage, 404: ErrorOut}, summary="List dead letters")
def list_dead_letters(
    request: HttpRequest,
    queue: str | None = None,
    actor: str | None = None,
    cursor: int | None = Query(None, ge=1),
    limit: int = Query(50, ge=1, le=MAX_PAGE_SIZE),
):
    _check_queue(queue)
    flush_job_events()
    return _page(deadletters.dead_letters(queue, actor), cursor, limit)


@router.get("/schedules", response=list[ScheduleOut], summary="List schedules")
def list_schedules(
    request: HttpRequest,
    next_runs: int = Query(3, ge=1, le=MAX_NEXT_RUNS, description="Next fire times to list"),
):
    """List every schedule by name with its next runs, its last run and lag, and missed runs."""
    return firing.list_schedules(count=next_runs)


@router.get(
    "/schedules/{name}", response={200: ScheduleOut, 404: ErrorOut}, summary="Get a schedule"
)
def get_schedule(
    request: HttpRequest,
    name: str,
    next_runs: int = Query(3, ge=1, le=MAX_NEXT_RUNS, description="Next fire times to list"),
):
    with _as_http_errors():
        return firing.get_schedule_info(name, count=next_runs)


@router.post("/queues/pause", response=AllQueuesStateOut, auth=CONTROL, summary="Pause all")
def pause_all_queues(request: HttpRequest):
    """Pause every queue; workers take no new job from a paused queue."""
    with audited(Operator.from_request(request), "pause", "all queues"):
        changed = pausing.pause_all()
    return {"paused_queues": pausing.get_paused_queues(), "changed": changed}


@router.post("/queues/resume", response=AllQueuesStateOut, auth=CONTROL, summary="Resume all")
def resume_all_queues(request: HttpRequest):
    with audited(Operator.from_request(request), "resume", "all queues"):
        changed = pausing.resume_all()
    return {"paused_queues": pausing.get_paused_queues(), "changed": changed}


@router.post(
    "/queues/{name}/pause", response={200: QueueStateOut, **ERRORS}, auth=CONTROL,
    summary="Pause a queue",
)
def pause_queue(request: HttpRequest, name: str):
    with _as_http_errors(), audited(Operator.from_request(request), "pause", name):
        changed = pausing.pause_queue(name)
    return {"queue": name, "paused": True, "changed": changed}


@router.post(
    "/queues/{name}/resume", response={200: QueueStateOut, **ERRORS}, auth=CONTROL,
    summary="Resume a queue",
)
def resume_queue(request: HttpRequest, name: str):
    with _as_http_errors(), audited(Operator.from_request(request), "resume", name):
        changed = pausing.resume_queue(name)
    return {"queue": name, "paused": False, "changed": changed}


@router.post("/clean", response=CleanOut, auth=CONTROL, summary="Delete old records")
def clean_records(request: HttpRequest, body: CleanIn):
    """Delete finished job records (and dead letters) that finished before the given age."""
    age = timedelta(seconds=body.older_than_seconds)
    operator = Operator.from_request(request)
    with audited(operator, "clean", **body.dict()) as note:
        flush_job_events(wait=True)
        result = clean(age, dead_letters_older_than=age if body.include_dead_letters else None)
        note["detail"] = f"{result.job_records} records, {result.dead_letters} dead letters"
    return {"job_records": result.job_records, "dead_letters": result.dead_letters}


@router.post(
    "/jobs/{job_id}/retry", response={200: JobOut, **ERRORS}, auth=CONTROL,
    summary="Retry a dead job",
)
def retry_job(request: HttpRequest, job_id: str):
    """Send a dead job again with the same id and fresh attempts."""
    with _as_http_errors(), audited(Operator.from_request(request), "retry", job_id):
        return deadletters.retry_dead_letter(job_id)


@router.post(
    "/dead-letters/retry", response={200: DeadLetterRetryOut, **ERRORS}, auth=CONTROL,
    summary="Retry dead letters",
)
def retry_dead_letters(request: HttpRequest, body: DeadLetterRetryIn):
    """Send every dead letter again, or those of one queue and/or actor."""
    _check_queue(body.queue)
    operator = Operator.from_request(request)
    with audited(operator, "retry-dead-letters", **body.dict()) as note:
        job_ids = deadletters.retry_dead_letters(body.queue, body.actor)
        note["detail"] = f"{len(job_ids)} jobs sent again"
    return {"retried": len(job_ids), "job_ids": job_ids}


@router.post(
    "/jobs/{job_id}/cancel", response={200: JobOut, **ERRORS}, auth=CONTROL,
    summary="Cancel a waiting job",
)
def cancel_job(request: HttpRequest, job_id: str):
    """Cancel a job that is enqueued, delayed or waiting for a retry."""
    with _as_http_errors(), audited(Operator.from_request(request), "cancel", job_id):
        return cancellation.cancel_job(job_id)
