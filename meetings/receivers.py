"""Mark a meeting failed when one of its workflow jobs is dead-lettered."""

from __future__ import annotations

from django.dispatch import receiver

from meetings import workflow
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
