"""Run the schedules in ``Schedule`` rows with an APScheduler 3 scheduler.

The runner reloads the rows every ``SCHEDULER_RELOAD_SECONDS``: new and
changed schedules are (re)added, disabled and deleted ones removed. Fire
times are computed by ``ZonedCronTrigger`` and handled by
``queueadmin.firing``, which makes each tick enqueue once across processes.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from django.db import close_old_connections
from django.utils import timezone as django_timezone

from queueadmin.crontab import ZonedCronTrigger
from queueadmin.firing import catch_up, effective_grace_seconds, fire_schedule, record_missed
from queueadmin.schedule_models import Schedule
from queueadmin.schedules import sync_code_schedules

logger = logging.getLogger(__name__)

RELOAD_JOB_ID = "__reload_schedules__"


class _JobAtFireTime:
    """A view of an APScheduler job that passes its fire time as ``fire_time``."""

    def __init__(self, job: Any, fire_time: datetime) -> None:
        self._job = job
        self.kwargs = {**job.kwargs, "fire_time": fire_time}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)


class FireTimeExecutor(ThreadPoolExecutor):
    """A thread pool executor that passes each schedule job the fire time it runs for.

    Schedule jobs are added with ``coalesce=True``, so one submission carries
    one fire time: the latest of those due.
    """

    def _do_submit_job(self, job, run_times):
        if job.id == RELOAD_JOB_ID:
            return super()._do_submit_job(job, run_times)
        return super()._do_submit_job(_JobAtFireTime(job, run_times[-1]), run_times[-1:])


def _fire_job(name: str, fire_time: datetime | None = None) -> None:
    # The default only satisfies APScheduler's argument check when the job is
    # added; FireTimeExecutor always passes the fire time.
    if fire_time is None:
        logger.error("Schedule %s ran without a fire time; not firing.", name)
        return
    close_old_connections()
    try:
        schedule = Schedule.objects.filter(name=name, enabled=True).first()
        if schedule is None:
            logger.info("Schedule %s is gone or disabled; not firing %s.", name, fire_time)
            return
        fire_schedule(schedule, fire_time)
    except Exception:
        logger.exception("Schedule %s failed to fire for %s.", name, fire_time)
    finally:
        close_old_connections()


def _signature(schedule: Schedule) -> tuple:
    return (
        schedule.actor,
        repr(schedule.arguments),
        schedule.cron,
        schedule.timezone,
        schedule.misfire_policy,
        schedule.grace_seconds,
    )


class ScheduleRunner:
    """Keep an APScheduler scheduler's jobs in step with the enabled ``Schedule`` rows."""

    def __init__(self, scheduler: BaseScheduler, reload_seconds: int) -> None:
        self.scheduler = scheduler
        self.reload_seconds = reload_seconds
        self._signatures: dict[str, tuple] = {}

    def start(self) -> None:
        """Write the code schedules, load all schedules and run the scheduler (blocks
        with a ``BlockingScheduler``)."""
        synced = sync_code_schedules()
        logger.info("Scheduler loading schedules (%d defined in code).", synced)
        self.reload()
        self.scheduler.add_job(
            self._reload_safely,
            IntervalTrigger(seconds=self.reload_seconds),
            id=RELOAD_JOB_ID,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        self.scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        logger.info(
            "Scheduler started with %d schedule(s); reloading every %d s.",
            len(self._signatures),
            self.reload_seconds,
        )
        self.scheduler.start()

    def reload(self, now: datetime | None = None) -> None:
        """Add new and changed enabled schedules, remove the others; catch up on added ones."""
        now = now or django_timezone.now()
        rows = {row.name: row for row in Schedule.objects.filter(enabled=True)}
        for name in list(self._signatures):
            if name not in rows:
                self.scheduler.remove_job(name)
                del self._signatures[name]
                logger.info("Schedule %s removed.", name)
        for name, row in rows.items():
            signature = _signature(row)
            if self._signatures.get(name) == signature:
                continue
            self._add(row, now)
            self._signatures[name] = signature

    def _add(self, schedule: Schedule, now: datetime) -> None:
        try:
            trigger = ZonedCronTrigger(schedule.cron, schedule.timezone)
            catch_up(schedule, now)
        except Exception:
            logger.exception("Schedule %s could not be loaded.", schedule.name)
            return
        self.scheduler.add_job(
            _fire_job,
            trigger,
            args=[schedule.name],
            id=schedule.name,
            name=schedule.name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=effective_grace_seconds(schedule),
            replace_existing=True,
        )
        logger.info(
            "Schedule %s loaded: %s, actor %s.", schedule.name, trigger, schedule.actor
        )

    def _reload_safely(self) -> None:
        close_old_connections()
        try:
            self.reload()
        except Exception:
            logger.exception("Reloading the schedules failed; keeping the current ones.")
        finally:
            close_old_connections()

    def _on_missed(self, event: JobExecutionEvent) -> None:
        close_old_connections()
        try:
            schedule = Schedule.objects.filter(name=event.job_id).first()
            if schedule is not None and (
                schedule.last_fire_at is None or schedule.last_fire_at < event.scheduled_run_time
            ):
                record_missed(schedule, [event.scheduled_run_time])
        finally:
            close_old_connections()
