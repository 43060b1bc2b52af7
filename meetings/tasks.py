"""Actors of the meeting workflow: process → analyse → notify.

Each actor runs its step, which commits its result, and then enqueues the
next step. All of them are safe to retry: a step that runs again replaces
what it stored before.
"""

from __future__ import annotations

from meetings import workflow
from meetings.payloads import MeetingJob
from queueadmin import queues
from queueadmin.actors import job_actor


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
