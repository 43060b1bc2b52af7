"""Import Tencent Meeting recordings of a period as meetings, and start their jobs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction

from integrations.tencent_meeting import (
    RECORD_STATE_READY,
    TencentMeetingClient,
    transcript_to_text,
)
from meetings.models import Meeting, MeetingSource
from meetings.services import add_process_job
from queueadmin.models import JobRecord, JobStatus

logger = logging.getLogger(__name__)


@dataclass
class SyncReport:
    """Counts of the meetings and the job ids of one sync run."""

    meetings_created: int = 0
    meetings_updated: int = 0
    recording_jobs: list[str] = field(default_factory=list)
    process_jobs: list[str] = field(default_factory=list)


def sync_tencent_meetings(
    start: datetime,
    end: datetime,
    *,
    storage_provider: str = "local",
    client: TencentMeetingClient | None = None,
) -> SyncReport:
    """Create or update a ``Meeting`` per Tencent meeting recorded in ``[start, end]``.

    Meetings are matched by ``(source="tencent", external_id=meeting_id)``, so a
    second run updates rows instead of adding them. A meeting without a stored
    recording gets an upload job, unless an upload of the same record file is
    waiting, running or done. One without a transcript gets its transcript
    stored and a process job. A run that fails part-way keeps what
    it committed so far; running it again completes the rest.

    Raises:
      RecoverableError, UnrecoverableError: from the API calls.
    """
    report = SyncReport()
    owned_client = client is None
    client = client or TencentMeetingClient()
    try:
        for record in client.iter_record_meetings(_seconds(start), _seconds(end)):
            if int(record.get("state") or 0) != RECORD_STATE_READY:
                logger.info(
                    "Tencent meeting %s: recording %s is not transcoded yet; skipped.",
                    record.get("meeting_id"),
                    record.get("meeting_record_id"),
                )
                continue
            meeting = _upsert_meeting(record, report)
            for record_file in client.get_record_files(record["meeting_record_id"]):
                _start_jobs(client, meeting, record, record_file, storage_provider, report)
    finally:
        if owned_client:
            client.close()
    logger.info(
        "Tencent Meeting sync %s..%s: %d created, %d updated, %d uploads, %d transcripts.",
        start.isoformat(),
        end.isoformat(),
        report.meetings_created,
        report.meetings_updated,
        len(report.recording_jobs),
        len(report.process_jobs),
    )
    return report


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def _upsert_meeting(record: dict[str, Any], report: SyncReport) -> Meeting:
    start_ms = record.get("media_start_time")
    starts_at = (
        datetime.fromtimestamp(int(start_ms) / 1000, tz=timezone.utc) if start_ms else None
    )
    meeting, created = Meeting.objects.update_or_create(
        source=MeetingSource.TENCENT,
        external_id=str(record["meeting_id"]),
        defaults={
            "title": (record.get("subject") or "Tencent meeting")[:255],
            "starts_at": starts_at,
        },
    )
    if created:
        report.meetings_created += 1
    else:
        report.meetings_updated += 1
    return meeting


def _has_live_job(idempotency_key: str) -> bool:
    """Return whether a job with this key is waiting, running or has succeeded."""
    ended = (
        JobStatus.FAILED,
        JobStatus.DEAD,
        JobStatus.EXPIRED,
        JobStatus.SKIPPED,
        JobStatus.CANCELLED,
    )
    jobs = JobRecord.objects.filter(idempotency_key=idempotency_key)
    return jobs.exclude(status__in=ended).exists()


def _start_jobs(
    client: TencentMeetingClient,
    meeting: Meeting,
    record: dict[str, Any],
    record_file: dict[str, Any],
    storage_provider: str,
    report: SyncReport,
) -> None:
    # Imported here because the services module imports the actors, which import this one.
    from integrations.services import add_upload_recording_job

    file_id = str(record_file.get("record_file_id", ""))
    download_url = record_file.get("download_address")
    upload_key = f"tencent-recording:{file_id}"
    if download_url and not meeting.recording_location and not _has_live_job(upload_key):
        file_type = record_file.get("download_address_file_type") or "mp4"
        job_id = add_upload_recording_job(
            file_url=download_url,
            file_name=f"tencent-{file_id}.{file_type}",
            meeting_id=meeting.pk,
            storage_provider=storage_provider,
            idempotency_key=upload_key,
        )
        report.recording_jobs.append(job_id)

    if meeting.transcript_file:
        return
    text = transcript_to_text(client.get_transcript(str(record["meeting_id"]), file_id))
    if not text:
        logger.info("Tencent record file %s has no transcript yet.", file_id)
        return
    with transaction.atomic():
        meeting.transcript_file.save(f"tencent-{file_id}.txt", ContentFile(text.encode()))
        report.process_jobs.append(add_process_job(meeting.pk))
