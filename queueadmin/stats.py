"""Queue statistics from Redis counters and lengths, never from job records.

Every function here costs a bounded number of Redis commands, whatever the
number of jobs: hash sizes grow with queues x actors x outcomes only.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from queueadmin import metrics
from queueadmin.brokerqueues import get_queue_depth
from queueadmin.deadletters import count_dead_letters
from queueadmin.queues import QUEUES
from queueadmin.redisclient import get_redis
from queueadmin.workers import count_running, get_live_workers

#: Outcomes that end an attempt; throughput counts these.
PROCESSED_OUTCOMES = ("succeeded", "failed", "dead")
FAILED_OUTCOMES = ("failed", "dead")
PERCENTILES = (50, 95, 99)
#: Minutes of history behind the percentiles and the failure rate.
WINDOW_MINUTES = 15


@dataclass(frozen=True)
class MinuteCounts:
    """Counts of one minute: ``counts[queue][outcome]`` and histogram buckets."""

    minute: int
    counts: dict[str, dict[str, int]]
    wait_buckets: dict[str, dict[int, int]]
    run_buckets: dict[str, dict[int, int]]


def read_minutes(count: int, now: float | None = None) -> list[MinuteCounts]:
    """Return the last ``count`` minutes, oldest first, the current minute last."""
    current = int((now or time.time()) // 60)
    minutes = list(range(current - count + 1, current + 1))
    pipeline = get_redis().pipeline(transaction=False)
    for minute in minutes:
        pipeline.hgetall(metrics.minute_key(minute))
    return [_parse_minute(minute, raw) for minute, raw in zip(minutes, pipeline.execute())]


def _parse_minute(minute: int, raw: dict[bytes, bytes]) -> MinuteCounts:
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    wait: dict[str, dict[int, int]] = defaultdict(dict)
    run: dict[str, dict[int, int]] = defaultdict(dict)
    for field, value in raw.items():
        parts = field.decode().split("|")
        if len(parts) == 2:
            counts[parts[0]][parts[1]] = int(value)
        elif parts[1] == "wait":
            wait[parts[0]][int(parts[2])] = int(value)
        else:
            run[parts[0]][int(parts[2])] = int(value)
    return MinuteCounts(minute, dict(counts), dict(wait), dict(run))


def percentile(buckets: dict[int, int], percent: float) -> float | None:
    """Estimate a percentile in ms from histogram bucket counts, or None if empty.

    Interpolates linearly inside the bucket; the open last bucket reports the
    largest finite bound.
    """
    total = sum(buckets.values())
    if total == 0:
        return None
    bounds = metrics.DURATION_BUCKETS_MS
    rank = total * percent / 100
    seen = 0
    for index in sorted(buckets):
        count = buckets[index]
        if seen + count >= rank:
            if index >= len(bounds):
                return float(bounds[-1])
            lower = bounds[index - 1] if index > 0 else 0
            fraction = (rank - seen) / count if count else 1.0
            return round(lower + (bounds[index] - lower) * fraction, 1)
        seen += count
    return float(bounds[-1])


def sum_counts(minutes: list[MinuteCounts], queue: str, outcomes: tuple[str, ...]) -> int:
    return sum(m.counts.get(queue, {}).get(outcome, 0) for m in minutes for outcome in outcomes)


def _merge_buckets(minutes: list[MinuteCounts], queue: str, attribute: str) -> dict[int, int]:
    merged: dict[int, int] = defaultdict(int)
    for minute in minutes:
        for index, count in getattr(minute, attribute).get(queue, {}).items():
            merged[index] += count
    return merged


def read_totals() -> dict[str, dict[str, int]]:
    """Return all-time job counts per queue and outcome, summed over actors."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for field, value in get_redis().hgetall(metrics.jobs_key()).items():
        queue, _actor, outcome = field.decode().split("|")
        totals[queue][outcome] += int(value)
    return totals


def _window_metrics(minutes: list[MinuteCounts], queue: str) -> dict:
    throughput = {
        f"last_{span}_minutes": sum_counts(minutes[-span:], queue, PROCESSED_OUTCOMES)
        for span in (1, 5, 15)
    }
    processed = throughput["last_15_minutes"]
    failed = sum_counts(minutes, queue, FAILED_OUTCOMES)
    wait = _merge_buckets(minutes, queue, "wait_buckets")
    run = _merge_buckets(minutes, queue, "run_buckets")
    return {
        "throughput": throughput,
        "wait_ms": {f"p{p}": percentile(wait, p) for p in PERCENTILES},
        "processing_ms": {f"p{p}": percentile(run, p) for p in PERCENTILES},
        "failure_rate": round(failed / processed, 4) if processed else 0.0,
    }


def get_queue_metrics() -> dict[str, dict]:
    """Return per queue: counts, throughput, waiting and processing percentiles, failure rate.

    ``throughput`` counts attempts finished in the last 1, 5 and 15 minutes
    (the current minute counts in full). Percentiles and the failure rate
    cover the last 15 minutes.
    """
    minutes = read_minutes(WINDOW_MINUTES)
    totals = read_totals()
    dead = count_dead_letters()
    workers = get_live_workers()
    result = {}
    for queue in QUEUES:
        depth = get_queue_depth(queue)
        result[queue] = {
            "waiting": depth.waiting,
            "delayed": depth.delayed,
            "running": count_running(queue, workers),
            "succeeded": totals[queue]["succeeded"],
            "failed": totals[queue]["failed"],
            "dead": dead.get(queue, 0),
            **_window_metrics(minutes, queue),
        }
    return result


def get_chart_series(minutes: int = 60) -> list[tuple[int, int, int]]:
    """Return ``(unix minute, processed, failed)`` for each of the last ``minutes``."""
    series = []
    for minute in read_minutes(minutes):
        processed = sum(sum_counts([minute], q, PROCESSED_OUTCOMES) for q in minute.counts)
        failed = sum(sum_counts([minute], q, FAILED_OUTCOMES) for q in minute.counts)
        series.append((minute.minute, processed, failed))
    return series
