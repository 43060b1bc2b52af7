"""Fire schedules: one enqueue per schedule and fire time, however many schedulers run.

Every ``runscheduler`` process fires every schedule. Before enqueueing, a
process takes a Redis lock keyed by schedule name and fire time
(``SET NX`` with a TTL), so one process enqueues each tick and the others
skip it. The job also carries the idempotency key
``schedule:<name>:<fire time in UTC, ISO 8601>``.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage
from django.db.models import F, Q
from django.utils import timezone as django_timezone

from queueadmin.actors import get_job_actor
from queueadmin.crontab import fire_times_between, next_fire_times
from queueadmin.envelope import get_envelope
from queueadmin.schedule_models import MisfirePolicy, Schedule

logger = logging.getLogger(__name__)

#: Maximum lateness, in seconds, at which a run of a skip-policy schedule still fires.
SKIP_POLICY_TOLERANCE_SECONDS = 5

#: Minimum lifetime of a fire lock, in seconds. Locks live at least twice the
#: grace time, so a late process cannot take the lock of a tick that fired.
MIN_LOCK_TTL_SECONDS = 3600

#: Maximum number of missed fire times counted after downtime.
MAX_CATCH_UP_FIRE_TIMES = 100_000

#: Job metadata key with the fire time of a scheduled job, as ``format_fire_time`` writes it.
FIRE_TIME_METADATA = "fire_time"


def format_fire_time(fire_time: datetime) -> str:
    """Return the fire time in UTC as ISO 8601 with seconds, for keys."""
    return fire_time.astimezone(timezone.utc).isoformat(timespec="seconds")


def schedule_idempotency_key(name: str, fire_time: datetime) -> str:
    return f"schedule:{name}:{format_fire_time(fire_time)}"


def effective_grace_seconds(schedule: Schedule) -> int:
    """Return how late a run of ``schedule`` may fire, by its misfire policy."""
    if schedule.misfire_policy == MisfirePolicy.SKIP:
        return SKIP_POLICY_TOLERANCE_SECONDS
    return schedule.grace_seconds


def _lock_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def acquire_fire_lock(name: str, fire_time: datetime, grace_seconds: int) -> bool:
    """Take the lock of one tick; return False when another process has it."""
    broker = dramatiq.get_broker()
    key = f"{broker.namespace}:schedule-lock:{name}:{format_fire_time(fire_time)}"
    ttl = max(MIN_LOCK_TTL_SECONDS, 2 * grace_seconds)
    return bool(broker.client.set(key, _lock_owner(), nx=True, ex=ttl))


def fire_schedule(schedule: Schedule, fire_time: datetime, now: datetime | None = None) -> str | None:
    """Enqueue the schedule's job for ``fire_time`` unless another process did; return the job id.

    Returns None when another scheduler holds this tick's lock.

    Raises:
      LookupError: the actor is not declared.
      InvalidPayloadError: the arguments no longer fit the actor's payload.
    """
    if not acquire_fire_lock(schedule.name, fire_time, effective_grace_seconds(schedule)):
        logger.debug("Schedule %s at %s is fired by another process.", schedule.name, fire_time)
        return None

    job_id = get_job_actor(schedule.actor).enqueue(
        schedule.arguments,
        idempotency_key=schedule_idempotency_key(schedule.name, fire_time),
        metadata={"schedule": schedule.name, FIRE_TIME_METADATA: format_fire_time(fire_time)},
    )
    now = now or django_timezone.now()
    lag_seconds = (now - fire_time).total_seconds()
    Schedule.objects.filter(pk=schedule.pk).filter(
        Q(last_fire_at__isnull=True) | Q(last_fire_at__lt=fire_time)
    ).update(last_fire_at=fire_time, last_run_at=now, last_lag_seconds=lag_seconds, last_job_id=job_id)
    logger.info(
        "Schedule %s fired for %s: job %s enqueued %.3f s after its fire time.",
        schedule.name,
        format_fire_time(fire_time),
        job_id,
        lag_seconds,
    )
    return job_id


def record_missed(schedule: Schedule, fire_times: list[datetime]) -> bool:
    """Count ``fire_times`` as missed unless another process has handled them.

    The update only applies while ``last_fire_at`` is still what this process
    read, so concurrent schedulers count each missed run once.
    """
    if not fire_times:
        return False
    latest = fire_times[-1]
    updated = Schedule.objects.filter(pk=schedule.pk, last_fire_at=schedule.last_fire_at).update(
        last_fire_at=latest,
        last_missed_at=latest,
        missed_count=F("missed_count") + len(fire_times),
    )
    if updated:
        logger.warning(
            "Schedule %s missed %d run(s), the latest at %s.",
            schedule.name,
            len(fire_times),
            format_fire_time(latest),
        )
    return bool(updated)


def catch_up(schedule: Schedule, now: datetime) -> str | None:
    """Handle the fire times missed since ``last_fire_at``; return the job id fired, if any.

    The latest missed time fires once when it is within the grace time (and
    the policy is coalesce); the others are recorded as missed. A schedule
    that never fired has nothing to catch up.
    """
    if schedule.last_fire_at is None:
        return None
    missed = fire_times_between(
        schedule.cron, schedule.timezone, schedule.last_fire_at, now, MAX_CATCH_UP_FIRE_TIMES
    )
    if not missed:
        return None
    latest = missed[-1]
    if (now - latest).total_seconds() > effective_grace_seconds(schedule):
        record_missed(schedule, missed)
        return None
    if len(missed) > 1 and not record_missed(schedule, missed[:-1]):
        return None
    return fire_schedule(schedule, latest, now)


@dataclass(frozen=True)
class ScheduleInfo:
    """A schedule with its next fire times and its last run, for the admin and the API."""

    name: str
    actor: str
    arguments: dict[str, Any]
    cron: str
    timezone: str
    enabled: bool
    misfire_policy: str
    grace_seconds: int
    defined_in_code: bool
    next_runs: list[datetime]
    last_fire_at: datetime | None
    last_run_at: datetime | None
    last_lag_seconds: float | None
    last_job_id: str
    missed_count: int
    last_missed_at: datetime | None


class ScheduleNotFoundError(LookupError):
    """Raised for a schedule name that no ``Schedule`` row has."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Schedule {name!r} not found.")
        self.name = name


def get_next_runs(schedule: Schedule, now: datetime | None = None, count: int = 3) -> list[datetime]:
    """Return the next ``count`` fire times (UTC) of an enabled schedule, else []."""
    if not schedule.enabled:
        return []
    start = now or django_timezone.now()
    return next_fire_times(schedule.cron, schedule.timezone, start + timedelta(microseconds=1), count)


def describe_schedule(
    schedule: Schedule, now: datetime | None = None, count: int = 3
) -> ScheduleInfo:
    """Return ``schedule`` with its next ``count`` runs and its last run and lag."""
    return ScheduleInfo(
        name=schedule.name,
        actor=schedule.actor,
        arguments=schedule.arguments,
        cron=schedule.cron,
        timezone=schedule.timezone,
        enabled=schedule.enabled,
        misfire_policy=schedule.misfire_policy,
        grace_seconds=schedule.grace_seconds,
        defined_in_code=schedule.defined_in_code,
        next_runs=get_next_runs(schedule, now, count),
        last_fire_at=schedule.last_fire_at,
        last_run_at=schedule.last_run_at,
        last_lag_seconds=schedule.last_lag_seconds,
        last_job_id=schedule.last_job_id,
        missed_count=schedule.missed_count,
        last_missed_at=schedule.last_missed_at,
    )


def list_schedules(now: datetime | None = None, count: int = 3) -> list[ScheduleInfo]:
    """Return every schedule by name with its next ``count`` runs and its last run and lag."""
    return [
        describe_schedule(schedule, now, count) for schedule in Schedule.objects.order_by("name")
    ]


def get_schedule_info(name: str, now: datetime | None = None, count: int = 3) -> ScheduleInfo:
    """Return the schedule ``name`` as ``list_schedules`` shows it.

    Raises:
      ScheduleNotFoundError: no schedule has that name.
    """
    schedule = Schedule.objects.filter(name=name).first()
    if schedule is None:
        raise ScheduleNotFoundError(name)
    return describe_schedule(schedule, now, count)


def get_current_fire_time() -> datetime | None:
    """Return the fire time (UTC) of the running job if a schedule enqueued it, else None.

    ``fire_schedule`` stores it in the job's metadata, so a retried or
    redelivered job of one tick reads the same fire time.
    """
    message = CurrentMessage.get_current_message()
    envelope = get_envelope(message) if message is not None else None
    if envelope is None or FIRE_TIME_METADATA not in envelope.metadata:
        return None
    return datetime.fromisoformat(envelope.metadata[FIRE_TIME_METADATA])
