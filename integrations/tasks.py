"""Actors of the integrations, on the external_api queue.

Each actor loads what it needs by id, calls one plain function and logs. The
functions raise ``RecoverableError`` for a passing fault (retried with
backoff) and ``UnrecoverableError`` for a rejection (dead-lettered at once).
"""

from __future__ import annotations

import logging

from django.conf import settings

from integrations import lark_sync, sms, storage, tencent_sync
from integrations.payloads import (
    LarkBitableSyncJob,
    SmsJob,
    TencentMeetingSyncJob,
    UploadRecordingJob,
)
from queueadmin import queues
from queueadmin.actors import job_actor
from queueadmin.context import current_job

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
