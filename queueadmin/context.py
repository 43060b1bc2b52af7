"""Context of the job or request running in the current thread.

The correlation id follows work from an HTTP request into the jobs it
enqueues, and from a job into the jobs that it enqueues in turn.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from queueadmin.ids import new_uuid4_hex


@dataclass(frozen=True)
class JobContext:
    """Identity of the job that the current worker thread runs."""

    job_id: str
    actor: str
    queue: str
    attempt: int
    correlation_id: str
    user_id: str | None = None


current_job: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar(
    "current_job", default=None
)
current_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_correlation_id", default=None
)


def new_correlation_id() -> str:
    """Return a new random correlation id: a version 4 UUID as 32 hexadecimal digits."""
    return new_uuid4_hex(1)[0]


def get_correlation_id() -> str | None:
    """Return the correlation id of the running request or job, if any."""
    job = current_job.get()
    if job is not None:
        return job.correlation_id
    return current_correlation_id.get()
