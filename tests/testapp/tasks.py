"""Actors used only by the tests."""

from __future__ import annotations

import logging
import threading
import time
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
from pydantic import BaseModel

from queueadmin import queues
from queueadmin.actors import job_actor
from queueadmin.completion import complete_once
from queueadmin.context import current_job
from queueadmin.errors import RecoverableError
from queueadmin.schedules import register_schedule
from tests.testapp.models import Execution

logger = logging.getLogger(__name__)


class KeyJob(BaseModel):
    key: str
    fail_times: int = 0


class TypedJob(BaseModel):
    key: str
    when: datetime
    day: date
    ident: UUID
    amount: Decimal
    note: str
    extra: dict[str, Any] = {}


def _record(key: str) -> int:
    job = current_job.get()
    attempt = job.attempt if job else 1
    Execution.objects.create(key=key, attempt=attempt)
    return attempt


@job_actor(queue=queues.MEETINGS, payload=KeyJob)
def flaky_job(job: KeyJob) -> None:
    """Fail the first ``fail_times`` attempts with a recoverable error."""
    attempt = _record(job.key)
    if attempt <= job.fail_times:
        raise RecoverableError(f"attempt {attempt} failed on purpose")


@job_actor(queue=queues.MEETINGS, payload=TypedJob)
def typed_job(job: TypedJob) -> None:
    """Store the types that arrived, for the encoding tests."""
    description = ",".join(
        type(value).__name__
        for value in (job.when, job.day, job.ident, job.amount, job.note, job.extra.get("at"))
    )
    Execution.objects.create(key=f"{job.key}|{description}|{job.note}")


@job_actor(queue=queues.MEETINGS, payload=TypedJob)
def echo_typed_job(job: TypedJob) -> None:
    """Store each field as "name|type|value", so tests compare values and types."""
    values = {
        "when": job.when,
        "day": job.day,
        "ident": job.ident,
        "amount": job.amount,
        "note": job.note,
        **{f"extra.{name}": value for name, value in job.extra.items()},
    }
    for name, value in values.items():
        Execution.objects.create(key=f"{job.key}|{name}|{type(value).__name__}|{value}"[:100])


class CountJob(BaseModel):
    key: str
    succeed_after: int = 0
    sleep_seconds: float = 0.0


@job_actor(queue=queues.EMAILS, payload=CountJob)
def counted_job(job: CountJob) -> str:
    """Record a run; fail until ``succeed_after`` runs of this key have failed.

    Unlike ``flaky_job`` this counts runs across dead-letter retries, which
    restart the attempt count.
    """
    import time

    from queueadmin.records import report_progress

    runs = Execution.objects.filter(key=job.key).count() + 1
    Execution.objects.create(key=job.key, attempt=runs)
    report_progress(50, f"run {runs}")
    if job.sleep_seconds:
        time.sleep(job.sleep_seconds)
    if runs <= job.succeed_after:
        raise RecoverableError(f"run {runs} failed on purpose", retry_after_ms=50)
    return f"done after {runs} runs"


class SlowJob(BaseModel):
    key: str
    seconds: float = 0.0
    #: Extra seconds that only the first run sleeps, so a test can kill it mid-run.
    first_run_seconds: float = 0.0


class FailJob(BaseModel):
    key: str
    kind: str


@job_actor(queue=queues.MEETINGS, payload=SlowJob, completion_marker=True)
def record_once(job: SlowJob) -> None:
    """Mark the start, sleep, then write the effect and its completion marker together."""
    first_run = not Execution.objects.filter(key=f"{job.key}:started").exists()
    Execution.objects.create(key=f"{job.key}:started")
    time.sleep(job.seconds + (job.first_run_seconds if first_run else 0))
    with complete_once():
        Execution.objects.create(key=job.key)


@job_actor(queue=queues.MEETINGS, payload=SlowJob)
def slow_job(job: SlowJob) -> None:
    """Mark the start, sleep, then mark the end; without a completion marker."""
    _record(f"{job.key}:started")
    time.sleep(job.seconds)
    _record(job.key)


@job_actor(queue=queues.EXTERNAL_API, payload=SlowJob, idempotency_ttl=5)
def short_ttl_job(job: SlowJob) -> None:
    _record(job.key)


class _UnpicklableError(Exception):
    """An exception that cannot be pickled, with a lock and a required argument."""

    def __init__(self, detail: str, lock: Any) -> None:
        super().__init__(detail)
        self.lock = lock

    def __reduce__(self):
        raise TypeError("cannot pickle _UnpicklableError")


class _BrokenStrError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str() is broken")


def _raise_for(kind: str) -> None:
    request = httpx.Request("GET", "http://127.0.0.1:9/resource")
    if kind == "http-404":
        response = httpx.Response(404, request=request)
        response.raise_for_status()
    if kind == "http-503":
        response = httpx.Response(503, headers={"Retry-After": "1"}, request=request)
        response.raise_for_status()
    if kind == "missing-row":
        Execution.objects.get(key="no such row")
    if kind == "unpicklable":
        raise _UnpicklableError("cannot be pickled", threading.Lock())
    if kind == "broken-str":
        raise _BrokenStrError()
    raise ValueError(f"unknown failure kind {kind!r}")


@job_actor(queue=queues.EXTERNAL_API, payload=FailJob, max_retries=1)
def failing_job(job: FailJob) -> None:
    """Fail with the exception that ``kind`` names, after recording the attempt."""
    _record(job.key)
    _raise_for(job.kind)


@job_actor(queue=queues.EMAILS, payload=KeyJob)
def child_job(job: KeyJob) -> None:
    logger.info("Child job ran for %s.", job.key)
    _record(job.key)


@job_actor(queue=queues.EMAILS, payload=KeyJob)
def parent_job(job: KeyJob) -> None:
    """Log a line and enqueue ``child_job``, which inherits the correlation id."""
    logger.info("Parent job enqueues a child for %s.", job.key)
    _record(job.key)
    child_job.enqueue(key=f"{job.key}:child")


class NoteJob(BaseModel):
    key: str
    seconds: float = 0.0


@job_actor(queue=queues.MEETINGS, payload=NoteJob)
def note_job(job: NoteJob) -> None:
    """Record the run, after sleeping ``seconds``, so tests can see the order of runs."""
    time.sleep(job.seconds)
    Execution.objects.create(key=job.key)


@job_actor(queue=queues.EXTERNAL_API, payload=NoteJob, rate_limit="test_limit")
def limited_job(job: NoteJob) -> None:
    """Record the run; guarded by the rate limit ``test_limit`` of the test settings."""
    _record(job.key)


# A schedule declared in code, far enough ahead not to fire during tests.
register_schedule(
    note_job, name="test-new-year", cron="0 0 1 1 *", timezone="Europe/Berlin",
    payload={"key": "new-year"},
)
