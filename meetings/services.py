"""Entry points that other code calls to submit meetings and start their jobs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import validate_email
from django.db import transaction

from meetings.models import Meeting, MeetingSource

logger = logging.getLogger(__name__)


class SubmissionError(ValueError):
    """Raised for a transcript submission that is rejected before any job runs."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class TranscriptTooLargeError(SubmissionError):
    """Raised for a transcript over ``MEETINGS_MAX_UPLOAD_BYTES``."""


@dataclass(frozen=True)
class Submission:
    meeting: Meeting
    job_id: str


def _clean_attendees(attendees: list[str]) -> list[str]:
    cleaned = []
    for index, address in enumerate(attendees):
        address = address.strip()
        try:
            validate_email(address)
        except ValidationError:
            raise SubmissionError(
                f"attendees[{index}]", f"{address!r} is not a valid email address"
            ) from None
        if address not in cleaned:
            cleaned.append(address)
    return cleaned


def _check_content(content: bytes) -> None:
    limit = settings.MEETINGS_MAX_UPLOAD_BYTES
    if len(content) > limit:
        raise TranscriptTooLargeError(
            "transcript", f"{len(content)} bytes is over the limit of {limit} bytes"
        )
    if not content.strip():
        raise SubmissionError("transcript", "the transcript is empty")


def submit_transcript(
    *,
    content: bytes,
    filename: str,
    title: str,
    attendees: list[str] | None = None,
    organizer: str = "",
    source: str = MeetingSource.API,
    user_id: int | str | None = None,
) -> Submission:
    """Store a transcript as a new meeting and enqueue its processing.

    The meeting row and its upload are committed before the job is sent.

    Raises:
      SubmissionError: an attendee address is invalid or the transcript is
        empty; ``TranscriptTooLargeError`` when it is over the size limit.
        Nothing is stored then.
    """
    _check_content(content)
    attendee_emails = _clean_attendees(attendees or [])
    title = title.strip() or PurePath(filename).stem or "Untitled meeting"

    with transaction.atomic():
        meeting = Meeting.objects.create(
            title=title[:255],
            organizer=organizer,
            attendee_emails=attendee_emails,
            source=source,
        )
        meeting.transcript_file.save(PurePath(filename).name or "transcript.txt", ContentFile(content))
        job_id = add_process_job(meeting.pk, user_id=user_id)

    logger.info("Meeting %s submitted; process job %s.", meeting.pk, job_id)
    return Submission(meeting=meeting, job_id=job_id)


def add_process_job(meeting_id: int, *, user_id: int | str | None = None) -> str:
    """Enqueue the processing of a stored meeting; return the job id.

    Processing is followed by the analysis and the attendee notification. A
    failed job keeps the stored upload and the earlier utterances, and a
    transcript that cannot be parsed marks the meeting failed with the reason.
    """
    from meetings.tasks import process_meeting

    return process_meeting.enqueue(meeting_id=meeting_id, user_id=user_id)


def add_analysis_job(
    meeting_id: int, kind: str = "transcript", *, user_id: int | str | None = None
) -> str:
    """Enqueue the analysis of a processed meeting; return the job id.

    ``kind`` names the analysis; "transcript" (talk share, sentiment and
    keywords of the stored utterances) is the only one. The analysis is
    followed by the attendee notification. A failed job leaves the previous
    analysis, if any, in place.

    Raises:
      InvalidPayloadError: ``kind`` is not a known analysis.
    """
    from meetings.tasks import analyze_meeting
    from queueadmin.errors import InvalidPayloadError

    if kind != "transcript":
        raise InvalidPayloadError(
            "analyze_meeting", [("kind", f"{kind!r} is not a known analysis (transcript)")]
        )
    return analyze_meeting.enqueue(meeting_id=meeting_id, user_id=user_id)
