"""Signal receivers: failed workflow jobs mark the meeting, saves sync its reminder."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from meetings import reminders, workflow
from meetings.models import Meeting
from queueadmin.signals import job_dead_lettered

WORKFLOW_ACTORS = {"process_meeting", "analyze_meeting", "notify_meeting_attendees"}


@receiver(job_dead_lettered)
def mark_meeting_failed(sender: str, *, actor_name: str, payload: dict, error: str, **kwargs) -> None:
    if actor_name not in WORKFLOW_ACTORS:
        return
    meeting_id = payload.get("meeting_id") if isinstance(payload, dict) else None
    if meeting_id is None:
        return
    workflow.mark_failed(meeting_id, f"{actor_name} failed: {error}")


@receiver(post_save, sender=Meeting)
def sync_meeting_reminder(sender: type[Meeting], instance: Meeting, **kwargs) -> None:
    # After the commit, so that the reminder follows only saved start times.
    meeting_id = instance.pk
    transaction.on_commit(lambda: reminders.sync_reminder(meeting_id))
