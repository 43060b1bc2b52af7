"""Add the Lark Bitable sync to the meeting workflow after each analysis."""

from __future__ import annotations

import logging

from django.dispatch import receiver

from integrations import lark_bitable, lark_sync
from meetings.signals import meeting_analysed

logger = logging.getLogger(__name__)


@receiver(meeting_analysed, dispatch_uid="integrations.enqueue_lark_bitable_sync")
def enqueue_lark_bitable_sync(sender: object, *, meeting_id: int, **kwargs: object) -> None:
    """Enqueue the Lark sync when Lark is configured; otherwise record it as skipped."""
    from integrations.services import add_lark_bitable_sync_job

    if not lark_bitable.is_configured():
        lark_sync.record_skipped(meeting_id, "Lark Bitable is not configured.")
        return
    job_id = add_lark_bitable_sync_job(meeting_id)
    logger.info("Meeting %s: Lark Bitable sync job %s enqueued.", meeting_id, job_id)
