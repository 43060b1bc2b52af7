"""The no-op actor whose per-job cost the recording benchmark measures."""

from __future__ import annotations

from pydantic import BaseModel

from queueadmin import queues
from queueadmin.actors import job_actor


class NoopJob(BaseModel):
    index: int


@job_actor(queue=queues.EMAILS, payload=NoopJob)
def noop_job(job: NoopJob) -> None:
    """Do nothing: the benchmark measures the queue machinery alone."""
