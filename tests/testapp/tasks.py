"""Actors used only by the tests."""

from __future__ import annotations

import time
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from queueadmin import queues
from queueadmin.actors import job_actor
from queueadmin.context import current_job
from queueadmin.errors import RecoverableError
from queueadmin.schedules import register_schedule
from tests.testapp.models import Execution


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
