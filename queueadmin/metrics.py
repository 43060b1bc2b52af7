"""Job counters and duration histograms, kept in Redis hashes.

Every worker process adds its increments through ``queueadmin.jobevents``,
so the totals are correct with any number of processes and need no HTTP
server per worker. Keys, all under the Redis namespace:

- ``metrics:jobs``: field ``queue|actor|outcome``, the job count.
- ``metrics:duration``: field ``queue|actor|outcome|i`` counts durations in
  bucket ``i`` of ``DURATION_BUCKETS_MS``; ``queue|actor|outcome|sum`` is the
  sum in milliseconds.
- ``metrics:minute:{unix minute}``: field ``queue|outcome`` counts per minute,
  ``queue|wait|i`` and ``queue|run|i`` histogram the waiting and processing
  time. These keys expire after ``MINUTE_KEY_TTL_SECONDS``.
"""

from __future__ import annotations

import bisect
import time

from queueadmin.jobevents import buffer
from queueadmin.redisclient import dead_letter_count_key, key

#: Upper bounds of the duration buckets in milliseconds; the last bucket is +Inf.
DURATION_BUCKETS_MS = (
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000, 900_000,
)

#: Outcomes of one attempt or one job, as counted.
OUTCOMES = ("enqueued", "succeeded", "failed", "dead", "skipped", "expired", "cancelled")

#: Per-minute keys live two hours: the overview chart shows the last hour.
MINUTE_KEY_TTL_SECONDS = 2 * 3600


def jobs_key() -> str:
    return key("metrics", "jobs")


def duration_key() -> str:
    return key("metrics", "duration")


def minute_key(minute: int) -> str:
    """Return the key of the per-minute hash; ``minute`` is UNIX seconds // 60."""
    return key("metrics", "minute", str(minute))


def bucket_index(milliseconds: float) -> int:
    """Return the index of the histogram bucket that contains ``milliseconds``."""
    return bisect.bisect_left(DURATION_BUCKETS_MS, milliseconds)


def enqueued_field(queue: str, actor: str) -> str:
    """Return the field of the ``jobs_key`` hash that counts the jobs sent."""
    return f"{queue}|{actor}|enqueued"


def count_enqueued(queue: str, actor: str, count: int = 1) -> None:
    """Count ``count`` jobs sent to ``queue``."""
    buffer.incr(jobs_key(), enqueued_field(queue, actor), count)


def count_outcome(
    queue: str,
    actor: str,
    outcome: str,
    *,
    duration_ms: float | None = None,
    wait_ms: float | None = None,
) -> None:
    """Count one attempt's outcome with its processing and waiting time in ms."""
    minute = minute_key(int(time.time() // 60))
    buffer.incr(jobs_key(), f"{queue}|{actor}|{outcome}")
    buffer.incr(minute, f"{queue}|{outcome}", expire_seconds=MINUTE_KEY_TTL_SECONDS)
    if duration_ms is not None:
        prefix = f"{queue}|{actor}|{outcome}"
        buffer.incr(duration_key(), f"{prefix}|{bucket_index(duration_ms)}")
        buffer.incr_float(duration_key(), f"{prefix}|sum", duration_ms)
        buffer.incr(minute, f"{queue}|run|{bucket_index(duration_ms)}")
    if wait_ms is not None:
        buffer.incr(minute, f"{queue}|wait|{bucket_index(wait_ms)}")
    if outcome == "dead":
        buffer.incr(dead_letter_count_key(), queue)
