"""The ``Schedule`` model: cron schedules that enqueue a job actor, and their state."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


class MisfirePolicy(models.TextChoices):
    """Handling of fire times the scheduler missed, for example while it was down."""

    COALESCE = "coalesce", "Run once if missed within the grace time"
    SKIP = "skip", "Skip missed runs"


def _default_grace_seconds() -> int:
    return settings.SCHEDULER_DEFAULT_GRACE_SECONDS


class Schedule(models.Model):
    """A cron schedule that enqueues ``actor`` with ``arguments`` in its time zone.

    Rows come from the admin or from schedules declared in code
    (``defined_in_code``), which ``runscheduler`` writes at start. The fields
    from ``last_fire_at`` on are the scheduler's state.
    """

    name = models.CharField(max_length=100, unique=True)
    actor = models.CharField(max_length=128, help_text="Name of a job actor.")
    arguments = models.JSONField(
        default=dict, blank=True, help_text="The job payload, validated against the actor."
    )
    cron = models.CharField(
        max_length=100,
        help_text="Five fields (minute hour day month weekday, 0 or 7 = Sunday) or six "
        "with seconds first.",
    )
    timezone = models.CharField(max_length=64, default="UTC", help_text="An IANA time zone name.")
    enabled = models.BooleanField(default=True)
    misfire_policy = models.CharField(
        max_length=16, choices=MisfirePolicy.choices, default=MisfirePolicy.COALESCE
    )
    grace_seconds = models.PositiveIntegerField(
        default=_default_grace_seconds,
        help_text="How late, in seconds, a missed run may still fire (coalesce policy).",
    )
    defined_in_code = models.BooleanField(default=False, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    last_fire_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="The latest fire time handled (UTC)."
    )
    last_run_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the latest job was enqueued."
    )
    last_lag_seconds = models.FloatField(
        null=True, blank=True, editable=False, help_text="Enqueue time minus fire time."
    )
    last_job_id = models.CharField(max_length=36, blank=True, editable=False)
    missed_count = models.PositiveIntegerField(default=0, editable=False)
    last_missed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Validate the cron expression, the time zone, the actor and the arguments."""
        from queueadmin.actors import get_job_actor
        from queueadmin.crontab import InvalidCronError, get_zone, parse_cron
        from queueadmin.errors import InvalidPayloadError

        errors: dict[str, str] = {}
        try:
            parse_cron(self.cron)
        except InvalidCronError as exc:
            errors["cron"] = str(exc)
        try:
            get_zone(self.timezone)
        except InvalidCronError as exc:
            errors["timezone"] = str(exc)
        try:
            job_actor = get_job_actor(self.actor)
        except LookupError as exc:
            errors["actor"] = str(exc)
        else:
            try:
                job_actor.validate(self.arguments)
            except InvalidPayloadError as exc:
                errors["arguments"] = str(exc)
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs) -> None:
        """Validate (see ``clean``) and save.

        Raises:
          ValidationError: an invalid cron expression, time zone, actor or arguments.
        """
        self.clean()
        super().save(*args, **kwargs)
