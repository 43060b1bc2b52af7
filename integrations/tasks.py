"""Actors of the integrations (external_api queue) and the Tencent Meeting sync schedule.

Each actor loads what it needs by id, calls one plain function and logs. The
functions raise ``RecoverableError`` for a passing fault (retried with
backoff) and ``UnrecoverableError`` for a rejection (dead-lettered at once).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from integrations import lark_sync, sms, storage, tencent_meeting, tencent_sync
from integrations.payloads import (
    LarkBitableSyncJob,
    RecentTencentMeetingSyncJob,
    SmsJob,
    TencentMeetingSyncJob,
    UploadRecordingJob,
)
from queueadmin import queues
from queueadmin.actors import job_actor
from queueadmin.context import current_job
from queueadmin.firing import get_current_fire_time
from queueadmin.schedules import ScheduleSpec, register_schedule, unregister_schedule

logger = logging.getLogger(__name__)


def _job_id() -> str:
    job = current_job.get()
    return job.job_id if job is not None else "-"


@job_actor(
    queue=queues.EXTERNAL_API,
    payload=UploadRecordingJob,
    # Read when the worker imports this module: one limit for every upload.
    time_limit=settings.RECORDINGS_UPLOAD_TIME_LIMIT_SECONDS * 1000,
)
def upload_recording(job: UploadRecordingJob) -> str:
    """Download a recording into storage and record it on the meeting.

    Safe to retry: only a complete download is stored, and a meeting that
    already has the same file keeps it. A failure leaves no stored file.
    Returns the stored location.
    """
    stored = storage.upload_recording(
        job.file_url, job.file_name, job.meeting_id, job.storage_provider
    )
    logger.info(
        "Job %s: meeting %s recording stored at %s.", _job_id(), job.meeting_id, stored.location
    )
    return stored.location


@job_actor(queue=queues.EXTERNAL_API, payload=TencentMeetingSyncJob)
def sync_tencent_meetings(job: TencentMeetingSyncJob) -> int:
    """Import the Tencent Meeting recordings of a period as meetings.

    Safe to retry: meetings are matched by their Tencent meeting id. A failure
    keeps the meetings imported before it. Returns the number of meetings seen.
    """
    report = tencent_sync.sync_tencent_meetings(
        job.start, job.end, storage_provider=job.storage_provider
    )
    logger.info(
        "Job %s: Tencent Meeting sync created %d and updated %d meetings.",
        _job_id(),
        report.meetings_created,
        report.meetings_updated,
    )
    return report.meetings_created + report.meetings_updated


@job_actor(queue=queues.EXTERNAL_API, payload=RecentTencentMeetingSyncJob)
def sync_recent_tencent_meetings(job: RecentTencentMeetingSyncJob) -> int:
    """Import the Tencent Meeting recordings of the ``lookback_hours`` before the fire time.

    Each tick of the schedule imports one fixed period, so a retry repeats the
    same request. Periods of consecutive ticks overlap, which is safe because
    meetings are matched by their Tencent meeting id. Without Tencent Meeting
    credentials the job logs a warning and does nothing. Returns the number of
    meetings seen.
    """
    if not tencent_meeting.is_configured():
        logger.warning(
            "Job %s: periodic Tencent Meeting sync skipped because Tencent Meeting is not "
            "configured. Set the TENCENT_MEETING_* credentials or disable the schedule.",
            _job_id(),
        )
        return 0
    end = get_current_fire_time() or timezone.now()
    start = end - timedelta(hours=job.lookback_hours)
    report = tencent_sync.sync_tencent_meetings(
        start, end, storage_provider=job.storage_provider
    )
    logger.info(
        "Job %s: periodic Tencent Meeting sync created %d and updated %d meetings.",
        _job_id(),
        report.meetings_created,
        report.meetings_updated,
    )
    return report.meetings_created + report.meetings_updated


@job_actor(queue=queues.EXTERNAL_API, payload=LarkBitableSyncJob)
def sync_lark_bitable(job: LarkBitableSyncJob) -> str:
    """Write a meeting's analysis as a row of the Lark Bitable table.

    Safe to retry: the row's record_id is kept, so a retry updates that row.
    Returns the record_id.
    """
    record_id = lark_sync.sync_meeting_analysis(job.meeting_id)
    logger.info("Job %s: meeting %s is Lark record %s.", _job_id(), job.meeting_id, record_id)
    return record_id


@job_actor(queue=queues.EXTERNAL_API, payload=SmsJob)
def send_sms(job: SmsJob) -> str:
    """Send one templated text message; returns the provider's serial number.

    A retry after a timeout may deliver a second message, when the provider
    accepted the first one but its reply was lost.
    """
    template_id = sms.get_template_id(job.template)
    with sms.TencentSmsClient() as client:
        serial_no = client.send_sms(job.phone_number, template_id, job.params)
    # Only the last digits of the number are logged.
    logger.info(
        "Job %s: sent SMS %s to …%s (%s).",
        _job_id(),
        job.template,
        job.phone_number[-4:],
        serial_no,
    )
    return serial_no


TENCENT_MEETING_SYNC_SCHEDULE = "tencent-meeting-sync"


def register_tencent_meeting_sync_schedule() -> ScheduleSpec | None:
    """Declare the periodic Tencent Meeting sync; return it, or None when not declared.

    It is declared only when the Tencent Meeting credentials and
    ``TENCENT_MEETING_SYNC_CRON`` are set, and withdrawn otherwise, so an
    unconfigured installation lists no schedule that cannot work. Called when
    this module is imported, and again by tests that change the settings.
    """
    cron = settings.TENCENT_MEETING_SYNC_CRON
    if not cron or not tencent_meeting.is_configured():
        unregister_schedule(TENCENT_MEETING_SYNC_SCHEDULE)
        return None
    return register_schedule(
        sync_recent_tencent_meetings,
        name=TENCENT_MEETING_SYNC_SCHEDULE,
        cron=cron,
        timezone="UTC",
        payload={
            "lookback_hours": settings.TENCENT_MEETING_SYNC_LOOKBACK_HOURS,
            "storage_provider": settings.TENCENT_MEETING_SYNC_STORAGE_PROVIDER,
        },
    )


register_tencent_meeting_sync_schedule()
