"""The product's benchmark actors: a no-op job and a latency probe.

Both take the payload every system in the suite gets: three short fields.
"""

from __future__ import annotations

import time

from pydantic import BaseModel

from queueadmin import queues
from queueadmin.actors import job_actor
from queueadmin.redisclient import get_redis, key


class NoopJob(BaseModel):
    index: int
    label: str
    tag: str


def latency_key() -> str:
    """Return the Redis list that ``latency_probe`` appends its start times to."""
    return key("bench", "latency")


@job_actor(queue=queues.EMAILS, payload=NoopJob)
def noop_job(job: NoopJob) -> None:
    """Do nothing: the benchmark measures the queue machinery alone."""


@job_actor(queue=queues.EMAILS, payload=NoopJob)
def latency_probe(job: NoopJob) -> None:
    """Append ``"<label> <start time in Unix seconds>"`` to the latency list."""
    get_redis().rpush(latency_key(), f"{job.label} {time.time()!r}")
