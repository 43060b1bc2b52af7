"""Actors of the meeting workflow: process → analyse → notify.

Each actor runs its step, which commits its result, and then enqueues the
next step. All of them are safe to retry: a step that runs again replaces
what it stored before.
"""

from __future__ import annotations

import logging

from meetings import reminders, workflow
from meetings.payloads import MeetingJob, ReminderJob
from queueadmin import queues
from queueadmin.actors import job_actor
from queueadmin.context import current_job

logger = logging.getLogger(__name__)


@job_actor(queue=queues.MEETINGS, payload=MeetingJob)
def process_meeting(job: MeetingJob) -> int:
    """Parse the meeting's upload into utterances, then enqueue the analysis.

    A transcript that cannot be parsed dead-letters the job and marks the
    meeting failed. Returns the number of utterances.
    """
    count = workflow.process_transcript(job.meeting_id)
    analyze_meeting.enqueue(meeting_id=job.meeting_id)
    return count


@job_actor(queue=queues.MEETINGS, payload=MeetingJob)
def analyze_meeting(job: MeetingJob) -> int:
    """Compute and store the meeting's analysis, then enqueue the notification.

    Returns the word count.
    """
    analysis = workflow.analyse_transcript(job.meeting_id)
    notify_meeting_attendees.enqueue(meeting_id=job.meeting_id)
    return analysis.word_count


@job_actor(queue=queues.MEETINGS, payload=MeetingJob)
def notify_meeting_attendees(job: MeetingJob) -> int:
    """Enqueue one summary email per attendee; returns how many."""
    return len(workflow.notify_attendees(job.meeting_id))


@job_actor(queue=queues.EMAILS, payload=ReminderJob)
def send_meeting_reminders(job: ReminderJob) -> int:
    """Enqueue the reminder email to each attendee; returns how many.

    Sends nothing when the meeting was cancelled or moved since the job was
    scheduled. A retry may enqueue the emails again only when the first
    attempt failed after enqueueing some of them.
    """
    current = current_job.get()
    job_id = current.job_id if current else ""
    sent = reminders.send_reminders(job.meeting_id, job.starts_at, job_id)
    logger.info("Reminder job %s of meeting %s sent %d email(s).", job_id, job.meeting_id, len(sent))
    return len(sent)
