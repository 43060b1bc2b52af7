"""Meeting reminders: sent before the start, rescheduled, cancelled, never stale."""

from __future__ import annotations

import email
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from meetings.models import Meeting
from meetings.reminders import cancel_meeting
from meetings.tasks import send_meeting_reminders
from queueadmin.models import JobRecord, JobStatus
from queueadmin.queues import EMAILS
from queueadmin.records import flush_job_events
from tests.helpers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

ATTENDEES = ["ada@example.com", "bob@example.com"]


@pytest.fixture(autouse=True)
def _empty_mail_folder():
    # The folder belongs to this test session (its own var/ folder).
    for path in Path(settings.EMAIL_FILE_PATH).glob("*.eml"):
        path.unlink()


def _reminder_mails() -> list[email.message.Message]:
    directory = Path(settings.EMAIL_FILE_PATH)
    if not directory.exists():
        return []
    messages = [email.message_from_bytes(path.read_bytes()) for path in directory.glob("*.eml")]
    return [message for message in messages if "Reminder:" in message["Subject"]]


def _meeting(starts_in: timedelta, reminder_minutes: int = 1, **fields) -> Meeting:
    return Meeting.objects.create(
        title="Planning",
        starts_at=timezone.now() + starts_in,
        reminder_minutes=reminder_minutes,
        attendee_emails=ATTENDEES,
        timezone="Europe/Berlin",
        join_url="https://meet.example.com/planning",
        **fields,
    )


def test_reminder_sent_to_each_attendee(broker, worker):
    meeting = _meeting(timedelta(minutes=1, seconds=2))
    meeting.refresh_from_db()
    assert meeting.reminder_job_id
    assert broker.queue_depths(EMAILS)["delayed"] == 1

    mails = wait_until(lambda: len(_reminder_mails()) == 2 and _reminder_mails(), timeout=60)

    assert sorted(message["To"] for message in mails) == ATTENDEES
    body = mails[0].get_payload()[0].get_payload(decode=True).decode()
    assert "Europe/Berlin" in body
    assert "https://meet.example.com/planning" in body


def test_moved_meeting_reschedules_reminder(broker, worker):
    meeting = _meeting(timedelta(minutes=1, seconds=2))
    meeting.refresh_from_db()
    old_job = meeting.reminder_job_id

    meeting.starts_at = timezone.now() + timedelta(hours=2)
    meeting.save()
    meeting.refresh_from_db()

    assert meeting.reminder_job_id != old_job
    assert meeting.reminder_starts_at == meeting.starts_at
    flush_job_events(wait=True)
    assert JobRecord.objects.get(job_id=old_job).status == JobStatus.CANCELLED
    assert broker.queue_depths(EMAILS)["delayed"] == 1
    time.sleep(4)
    assert _reminder_mails() == []


def test_cancelled_meeting_cancels_reminder(broker, worker):
    meeting = _meeting(timedelta(minutes=1, seconds=2))
    meeting.refresh_from_db()
    job_id = meeting.reminder_job_id

    cancel_meeting(meeting.pk)

    meeting.refresh_from_db()
    assert meeting.reminder_job_id == ""
    flush_job_events(wait=True)
    assert JobRecord.objects.get(job_id=job_id).status == JobStatus.CANCELLED
    assert broker.queue_depths(EMAILS)["delayed"] == 0
    time.sleep(4)
    assert _reminder_mails() == []


def test_stale_reminder_sends_nothing(broker, worker):
    meeting = _meeting(timedelta(hours=3))
    old_start = meeting.starts_at - timedelta(hours=1)

    # A reminder for a start time the meeting no longer has, as left by a
    # cancel that came after the job was already due.
    job_id = send_meeting_reminders.enqueue(meeting_id=meeting.pk, starts_at=old_start)

    record = wait_until(
        lambda: JobRecord.objects.filter(job_id=job_id, status=JobStatus.SUCCEEDED).first(),
        timeout=60,
    )
    assert record.result_summary == "0"
    assert _reminder_mails() == []


def test_meeting_without_start_has_no_reminder(broker):
    meeting = Meeting.objects.create(title="Someday", attendee_emails=ATTENDEES)

    meeting.refresh_from_db()
    assert meeting.reminder_job_id == ""
    assert broker.queue_depths(EMAILS)["delayed"] == 0
