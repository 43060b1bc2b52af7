"""The health of the queue system, for load balancers and on-call engineers.

Rules, checked in this order:

- unhealthy: Redis does not reply to ``PING``.
- unhealthy: a queue that is not paused has had a job waiting for at least
  ``QUEUE_HEALTH_STUCK_SECONDS`` and no live worker consumes it.
- degraded: a job has waited longer than ``QUEUE_HEALTH_MAX_WAIT_SECONDS``
  although a worker consumes its queue.
- degraded: a paused queue has jobs waiting.
- degraded: at least ``QUEUE_HEALTH_DEAD_LETTER_THRESHOLD`` jobs died in the
  last 15 minutes.

An idle system, with or without workers, is healthy.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field

import redis
from django.conf import settings

from queueadmin import stats
from queueadmin.brokerqueues import get_queue_depth
from queueadmin.deadletters import count_dead_letters
from queueadmin.pausing import get_paused_queues
from queueadmin.queues import QUEUES
from queueadmin.redisclient import get_redis
from queueadmin.workers import count_live_workers, get_live_workers

logger = logging.getLogger(__name__)

HEALTHY = "healthy"
DEGRADED = "degraded"
UNHEALTHY = "unhealthy"


@dataclass
class QueueHealth:
    waiting: int
    oldest_waiting_age_seconds: float | None
    live_workers: int
    paused: bool


@dataclass
class HealthReport:
    """The overall status with its reasons and the figures behind it."""

    status: str
    reasons: list[str] = field(default_factory=list)
    redis_reachable: bool = False
    redis_rtt_ms: float | None = None
    queues: dict[str, QueueHealth] = field(default_factory=dict)
    dead_letters: int = 0
    dead_letters_last_15_minutes: int = 0
    outbox_size: int = 0
    paused_queues: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _ping() -> float | None:
    """Return the Redis round-trip time in ms, or None when Redis does not reply."""
    started = time.perf_counter()
    try:
        get_redis().ping()
    except redis.RedisError as exc:
        logger.warning("Health check: Redis did not reply to PING: %s", exc)
        return None
    return round((time.perf_counter() - started) * 1000, 3)


def _outbox_size() -> int:
    try:
        from queueadmin.outbox import outbox_size

        return outbox_size()
    except ImportError:
        # TODO: report the real size once the transactional outbox exists here.
        return 0


def _queue_reasons(name: str, queue: QueueHealth) -> list[tuple[str, str]]:
    age = queue.oldest_waiting_age_seconds
    if not queue.waiting or age is None:
        return []
    if queue.paused:
        return [(DEGRADED, f"queue {name} is paused with {queue.waiting} jobs waiting")]
    if queue.live_workers == 0 and age >= settings.QUEUE_HEALTH_STUCK_SECONDS:
        return [
            (
                UNHEALTHY,
                f"queue {name} has {queue.waiting} jobs waiting (oldest {age:.0f} s) "
                "and no live worker",
            )
        ]
    if age > settings.QUEUE_HEALTH_MAX_WAIT_SECONDS:
        return [(DEGRADED, f"queue {name}: the oldest job has waited {age:.0f} s")]
    return []


def check_health() -> HealthReport:
    """Return the health report; reads only Redis counters, lengths and heartbeats."""
    rtt = _ping()
    if rtt is None:
        return HealthReport(status=UNHEALTHY, reasons=["Redis is unreachable"])

    report = HealthReport(status=HEALTHY, redis_reachable=True, redis_rtt_ms=rtt)
    report.paused_queues = get_paused_queues()
    workers = get_live_workers()
    findings: list[tuple[str, str]] = []
    for name in QUEUES:
        depth = get_queue_depth(name)
        queue = QueueHealth(
            waiting=depth.waiting,
            oldest_waiting_age_seconds=depth.oldest_waiting_age_seconds,
            live_workers=count_live_workers(name, workers),
            paused=name in report.paused_queues,
        )
        report.queues[name] = queue
        findings.extend(_queue_reasons(name, queue))

    report.dead_letters = sum(count_dead_letters().values())
    minutes = stats.read_minutes(stats.WINDOW_MINUTES)
    report.dead_letters_last_15_minutes = sum(
        stats.sum_counts(minutes, name, ("dead",)) for name in QUEUES
    )
    if report.dead_letters_last_15_minutes >= settings.QUEUE_HEALTH_DEAD_LETTER_THRESHOLD:
        findings.append(
            (
                DEGRADED,
                f"{report.dead_letters_last_15_minutes} jobs were dead-lettered "
                "in the last 15 minutes",
            )
        )
    report.outbox_size = _outbox_size()

    report.reasons = [reason for _, reason in findings]
    levels = {level for level, _ in findings}
    if UNHEALTHY in levels:
        report.status = UNHEALTHY
    elif DEGRADED in levels:
        report.status = DEGRADED
    return report
