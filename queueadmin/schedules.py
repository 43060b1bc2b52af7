"""Schedules declared in code, beside their actors.

Example::

    @scheduled(name="nightly-clean-up", cron="0 3 * * *", timezone="Europe/Berlin")
    @job_actor(queue=queues.MEETINGS, payload=CleanUpJob)
    def clean_up(job: CleanUpJob) -> None:
        ...

``runscheduler`` writes these into ``Schedule`` rows at start (marked
``defined_in_code``), so that the admin and the API show them with their
state. A row of the same name that was created in the admin is left alone,
and a code row whose schedule is no longer declared is deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from queueadmin.actors import JobActor
from queueadmin.crontab import get_zone, parse_cron
from queueadmin.schedule_models import MisfirePolicy

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule declared in code."""

    name: str
    actor_name: str
    cron: str
    timezone: str = "UTC"
    payload: dict[str, Any] = field(default_factory=dict)
    misfire_policy: MisfirePolicy = MisfirePolicy.COALESCE
    grace_seconds: int | None = None


_code_schedules: dict[str, ScheduleSpec] = {}


def register_schedule(
    actor: JobActor,
    *,
    name: str,
    cron: str,
    timezone: str = "UTC",
    payload: dict[str, Any] | None = None,
    misfire_policy: MisfirePolicy | str = MisfirePolicy.COALESCE,
    grace_seconds: int | None = None,
) -> ScheduleSpec:
    """Declare that ``actor`` runs with ``payload`` on ``cron`` in ``timezone``.

    ``grace_seconds`` defaults to ``SCHEDULER_DEFAULT_GRACE_SECONDS``.

    Raises:
      InvalidCronError: an invalid cron expression or time zone.
      InvalidPayloadError: the payload fails the actor's validation.
      ValueError: another schedule has this name.
    """
    parse_cron(cron)
    get_zone(timezone)
    actor.validate(payload or {})
    if name in _code_schedules and _code_schedules[name].actor_name != actor.actor_name:
        raise ValueError(f"Schedule name {name!r} is already used by another actor.")
    spec = ScheduleSpec(
        name=name,
        actor_name=actor.actor_name,
        cron=cron,
        timezone=timezone,
        payload=dict(payload or {}),
        misfire_policy=MisfirePolicy(misfire_policy),
        grace_seconds=grace_seconds,
    )
    _code_schedules[name] = spec
    return spec


def scheduled(**options: Any) -> Callable[[JobActor], JobActor]:
    """Decorate a ``JobActor`` to declare a schedule; options as for ``register_schedule``."""

    def decorator(actor: JobActor) -> JobActor:
        register_schedule(actor, **options)
        return actor

    return decorator


def unregister_schedule(name: str) -> bool:
    """Withdraw the code schedule ``name``; return whether it was declared.

    Used for schedules that a setting disables. The next
    ``sync_code_schedules`` deletes the withdrawn schedule's row.
    """
    return _code_schedules.pop(name, None) is not None


def get_code_schedules() -> list[ScheduleSpec]:
    """Return the schedules declared in code, by name."""
    return [_code_schedules[name] for name in sorted(_code_schedules)]


def sync_code_schedules() -> int:
    """Create or update the ``Schedule`` rows of the code schedules; return how many.

    The ``tasks`` modules are imported first, so that their schedules are declared.

    Rows created in the admin with the same name are not changed, and a
    warning names them. Code rows of schedules this process does not declare
    (withdrawn, or disabled by a setting) are deleted, so that they stop
    firing. While schedulers of two code versions run side by side, each start
    rewrites the rows to its own version.
    """
    from queueadmin.actors import import_task_modules
    from queueadmin.models import Schedule

    import_task_modules()
    count = 0
    for spec in get_code_schedules():
        definition = {
            "actor": spec.actor_name,
            "arguments": spec.payload,
            "cron": spec.cron,
            "timezone": spec.timezone,
            "misfire_policy": spec.misfire_policy,
            "grace_seconds": spec.grace_seconds or settings.SCHEDULER_DEFAULT_GRACE_SECONDS,
        }
        row = Schedule.objects.filter(name=spec.name).first()
        if row is None:
            Schedule(name=spec.name, defined_in_code=True, **definition).save()
        elif not row.defined_in_code:
            logger.warning(
                "Schedule %s is defined in the admin and in code; the admin row wins.", spec.name
            )
            continue
        else:
            for key, value in definition.items():
                setattr(row, key, value)
            row.save()
        count += 1
    _delete_undeclared_rows()
    return count


def _delete_undeclared_rows() -> None:
    from queueadmin.models import Schedule

    undeclared = Schedule.objects.filter(defined_in_code=True).exclude(
        name__in=list(_code_schedules)
    )
    for name in undeclared.values_list("name", flat=True):
        logger.info("Deleting the row of schedule %s, which the code no longer declares.", name)
    undeclared.delete()
