"""Built-in jobs of the queue machinery, and the schedules that run them.

``runscheduler`` enqueues them like any code schedule: the clean-up at
``SCHEDULER_CLEAN_UP_CRON`` and the outbox relay at
``SCHEDULER_OUTBOX_RELAY_CRON``, both in UTC. An empty setting leaves the
schedule undeclared, and the scheduler deletes its row at its next start.

Both actors run on the emails queue. Its jobs are short, with a time limit of
two minutes by default, and it has two threads, so a scheduled run starts
soon. The meetings queue has one thread, whose analyses may run for 30
minutes, and external_api jobs include recording uploads of up to an hour.

Each tick's job carries the idempotency key ``schedule:<name>:<fire time>``,
so a tick runs once. Both jobs are also safe to run twice: a second clean-up
finds nothing left to delete, and each outbox row is sent by the relay that
deletes it.
"""

from __future__ import annotations

import logging

from django.conf import settings
from pydantic import BaseModel, ConfigDict

from queueadmin import queues
from queueadmin.actors import job_actor
from queueadmin.cleaning import CleanResult, apply_retention
from queueadmin.outbox import RelayResult, relay
from queueadmin.schedules import ScheduleSpec, register_schedule, unregister_schedule

logger = logging.getLogger(__name__)

CLEAN_UP_SCHEDULE = "queue-clean-up"
OUTBOX_RELAY_SCHEDULE = "outbox-relay"

#: Time limit of one clean-up, in milliseconds. Deleting the backlog of a first
#: run can take minutes. A run cut short keeps the batches it committed, and
#: the next run continues from there.
CLEAN_UP_TIME_LIMIT_MS = 10 * 60 * 1000


class CleanUpJob(BaseModel):
    """An empty payload, because the ages come from the retention settings."""

    model_config = ConfigDict(extra="forbid")


class OutboxRelayJob(BaseModel):
    """An empty payload, because the relay sends every job waiting in the outbox."""

    model_config = ConfigDict(extra="forbid")


@job_actor(queue=queues.EMAILS, payload=CleanUpJob, time_limit=CLEAN_UP_TIME_LIMIT_MS)
def clean_up_queue_records(job: CleanUpJob) -> CleanResult:
    """Delete records and dead letters past their retention, and expired completion markers.

    The ages are ``QUEUE_JOB_RECORD_RETENTION_SECONDS``,
    ``QUEUE_DEAD_LETTER_RETENTION_SECONDS`` and the idempotency TTL.
    """
    result = apply_retention()
    logger.info(
        "Clean-up deleted %d job records, %d dead letters and %d completion markers.",
        result.job_records,
        result.dead_letters,
        result.completions,
    )
    return result


@job_actor(queue=queues.EMAILS, payload=OutboxRelayJob)
def relay_outbox(job: OutboxRelayJob) -> RelayResult:
    """Send the jobs stored in the outbox while Redis was unavailable.

    Worker processes also relay the outbox on their own every
    ``QUEUE_OUTBOX_RELAY_INTERVAL_SECONDS``. The scheduled job adds a job
    record with the counts of each pass and a last run in the schedule list.
    """
    result = relay()
    logger.info(
        "Outbox relay sent %d jobs, dropped %d duplicates and left %d in the outbox.",
        result.sent,
        result.duplicates,
        result.remaining,
    )
    return result


def register_builtin_schedules() -> list[ScheduleSpec]:
    """Declare the built-in schedules from their settings; return those declared.

    A schedule whose cron setting is empty is withdrawn. Called when this
    module is imported, and again by tests that change the settings.
    """
    declared = []
    for actor, name, cron in (
        (clean_up_queue_records, CLEAN_UP_SCHEDULE, settings.SCHEDULER_CLEAN_UP_CRON),
        (relay_outbox, OUTBOX_RELAY_SCHEDULE, settings.SCHEDULER_OUTBOX_RELAY_CRON),
    ):
        if cron:
            declared.append(register_schedule(actor, name=name, cron=cron, timezone="UTC"))
        else:
            unregister_schedule(name)
    return declared


register_builtin_schedules()
