"""Actors used only by the tests."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from queueadmin import queues
from queueadmin.actors import job_actor
from queueadmin.context import current_job
from queueadmin.errors import RecoverableError
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
