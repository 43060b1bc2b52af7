"""Reminder emails before meetings: scheduled, rescheduled and cancelled with the meeting.

Each meeting with a start time and no cancellation has one delayed job,
``send_meeting_reminders``, due ``reminder_minutes`` before the start. The
job carries the start time it was scheduled for. Whenever a meeting is saved,
``sync_reminder`` compares that time with the meeting. When the start moved,
it cancels the waiting job and schedules a new one. When the meeting was
cancelled, it only cancels. At run time the job checks again, so a reminder
whose start time no longer matches (for example when the cancel came after
the job became due) sends nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import dramatiq
from django.conf import settings
from django.db import transaction
from django.utils import timezone as django_timezone

from meetings.models import Meeting
from queueadmin.records import record_cancelled

logger = logging.getLogger(__name__)


def reminder_due_at(meeting: Meeting) -> datetime | None:
    """Return when the meeting's reminder is due, or None when it needs none."""
    if meeting.starts_at is None or meeting.cancelled_at is not None:
        return None
    minutes = meeting.reminder_minutes
    if minutes is None:
        minutes = settings.MEETINGS_REMINDER_MINUTES
    return meeting.starts_at - timedelta(minutes=minutes)


def sync_reminder(meeting_id: int) -> str | None:
    """Bring the meeting's reminder job in line with its start time; return the job id.

    Returns None when the meeting needs no reminder (no start time, cancelled,
    already started) and leaves a matching job alone.
    """
    with transaction.atomic():
        meeting = Meeting.objects.select_for_update().filter(pk=meeting_id).first()
        if meeting is None:
            return None
        due_at = reminder_due_at(meeting)
        needed = due_at is not None and meeting.starts_at > django_timezone.now()
        if needed and meeting.reminder_job_id and meeting.reminder_starts_at == meeting.starts_at:
            return meeting.reminder_job_id
        if not needed and not meeting.reminder_job_id:
            return None

        if meeting.reminder_job_id:
            _cancel_job(meeting.reminder_job_id, meeting.pk)
        job_id = _schedule(meeting, due_at) if needed else ""
        Meeting.objects.filter(pk=meeting.pk).update(
            reminder_job_id=job_id,
            reminder_starts_at=meeting.starts_at if job_id else None,
        )
    return job_id or None


def _schedule(meeting: Meeting, due_at: datetime) -> str:
    from meetings.tasks import send_meeting_reminders

    delay = max(timedelta(0), due_at - django_timezone.now())
    job_id = send_meeting_reminders.enqueue(
        meeting_id=meeting.pk, starts_at=meeting.starts_at, delay=delay
    )
    logger.info(
        "Scheduled reminder job %s for meeting %s at %s.", job_id, meeting.pk, due_at.isoformat()
    )
    return job_id


def _cancel_job(job_id: str, meeting_id: int) -> None:
    from meetings.tasks import send_meeting_reminders

    def cancel() -> None:
        broker = dramatiq.get_broker()
        if broker.cancel_delayed(send_meeting_reminders.queue_name, job_id):
            record_cancelled(
                job_id,
                "meeting rescheduled or cancelled",
                actor=send_meeting_reminders.actor_name,
                queue=send_meeting_reminders.queue_name,
            )
            logger.info("Cancelled reminder job %s of meeting %s.", job_id, meeting_id)
        else:
            logger.info(
                "Reminder job %s of meeting %s was no longer waiting; its start-time "
                "check stops it.",
                job_id,
                meeting_id,
            )

    # After the commit, so that a rolled-back change keeps the old reminder.
    transaction.on_commit(cancel)


def send_reminders(meeting_id: int, scheduled_start: datetime, job_id: str) -> list[str]:
    """Enqueue one reminder email per attendee, unless the reminder is stale; return job ids.

    Stale means: the meeting is gone or cancelled, its start time differs from
    ``scheduled_start``, or a newer reminder job replaced ``job_id``.
    """
    from notifications.services import send_meeting_reminder_email

    meeting = Meeting.objects.filter(pk=meeting_id).first()
    reason = _stale_reason(meeting, scheduled_start, job_id)
    if reason:
        logger.info("Reminder job %s of meeting %s not sent: %s.", job_id, meeting_id, reason)
        return []
    return [
        send_meeting_reminder_email(
            email, meeting.title, meeting.starts_at, meeting.timezone, meeting.join_url
        )
        for email in meeting.attendee_emails
    ]


def _stale_reason(meeting: Meeting | None, scheduled_start: datetime, job_id: str) -> str:
    if meeting is None:
        return "the meeting was deleted"
    if meeting.cancelled_at is not None:
        return "the meeting was cancelled"
    if meeting.starts_at != scheduled_start:
        return f"the start moved from {scheduled_start.isoformat()} to {meeting.starts_at}"
    if meeting.reminder_job_id != job_id:
        return f"job {meeting.reminder_job_id or '(none)'} replaced it"
    return ""


def cancel_meeting(meeting_id: int) -> None:
    """Mark the meeting cancelled; its reminder is cancelled when the change commits."""
    Meeting.objects.filter(pk=meeting_id, cancelled_at__isnull=True).update(
        cancelled_at=django_timezone.now()
    )
    transaction.on_commit(lambda: sync_reminder(meeting_id))
