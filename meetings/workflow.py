"""The steps of a meeting's processing workflow, each run by one actor.

Every step loads the meeting by id and can run again safely: processing
replaces the stored utterances, analysis replaces the stored analysis.
"""

from __future__ import annotations

import logging

from django.db import transaction

from meetings.analysis import analyze_utterances
from meetings.models import Analysis, Meeting, MeetingStatus, Utterance
from meetings.signals import meeting_analysed
from meetings.transcripts import TranscriptFormatError, Utterance as ParsedUtterance
from meetings.transcripts import parse_transcript
from notifications.services import send_meeting_summary
from queueadmin.errors import UnrecoverableError
from queueadmin.records import report_progress

logger = logging.getLogger(__name__)


def get_meeting(meeting_id: int) -> Meeting:
    """Return the meeting, or raise ``UnrecoverableError`` when it is missing."""
    try:
        return Meeting.objects.get(pk=meeting_id)
    except Meeting.DoesNotExist:
        raise UnrecoverableError(f"Meeting {meeting_id} does not exist.") from None


def mark_failed(meeting_id: int, reason: str) -> None:
    """Set the meeting's status to failed, keeping the first reason recorded."""
    updated = Meeting.objects.filter(pk=meeting_id).exclude(status=MeetingStatus.FAILED).update(
        status=MeetingStatus.FAILED, failure_reason=reason[:2000]
    )
    if updated:
        logger.warning("Meeting %s failed: %s", meeting_id, reason)


def _set_status(meeting: Meeting, status: str) -> None:
    meeting.status = status
    meeting.save(update_fields=["status", "updated_at"])


def process_transcript(meeting_id: int) -> int:
    """Parse the stored upload and store its utterances; return their count.

    Raises:
      UnrecoverableError: the meeting is missing or its transcript cannot be
        parsed; the meeting is marked failed with the reason.
    """
    meeting = get_meeting(meeting_id)
    _set_status(meeting, MeetingStatus.PROCESSING)

    try:
        with meeting.transcript_file.open("rb") as upload:
            parsed = parse_transcript(upload.read())
    except (TranscriptFormatError, FileNotFoundError, ValueError) as exc:
        reason = f"Transcript rejected: {exc}"
        mark_failed(meeting_id, reason)
        raise UnrecoverableError(reason) from exc

    with transaction.atomic():
        meeting.utterances.all().delete()
        Utterance.objects.bulk_create(
            Utterance(
                meeting=meeting,
                position=position,
                speaker=utterance.speaker[:255],
                text=utterance.text,
                start_seconds=utterance.start,
                end_seconds=utterance.end,
            )
            for position, utterance in enumerate(parsed.utterances)
        )
        meeting.transcript_format = parsed.format
        meeting.save(update_fields=["transcript_format", "updated_at"])

    logger.info(
        "Meeting %s: stored %d utterances (%s).",
        meeting_id,
        len(parsed.utterances),
        parsed.format,
    )
    return len(parsed.utterances)


def analyse_transcript(meeting_id: int) -> Analysis:
    """Analyse the stored utterances and store the result; return it."""
    meeting = get_meeting(meeting_id)
    report_progress(10, "loading utterances")
    utterances = [
        ParsedUtterance(
            speaker=row.speaker, text=row.text, start=row.start_seconds, end=row.end_seconds
        )
        for row in meeting.utterances.order_by("position")
    ]
    if not utterances:
        raise UnrecoverableError(f"Meeting {meeting_id} has no utterances to analyse.")

    report_progress(40, "computing talk share, sentiment and keywords")
    result = analyze_utterances(utterances)

    report_progress(80, "storing the analysis")
    with transaction.atomic():
        analysis, _ = Analysis.objects.update_or_create(
            meeting=meeting,
            defaults={
                "data": result.as_dict(),
                "word_count": result.word_count,
                "sentiment": result.sentiment["compound"],
            },
        )
        _set_status(meeting, MeetingStatus.ANALYSED)

    logger.info("Meeting %s analysed: %d words.", meeting_id, result.word_count)
    # Receivers add the optional follow-up steps, such as the Lark Bitable sync.
    meeting_analysed.send(sender=Meeting, meeting_id=meeting_id)
    return analysis


def notify_attendees(meeting_id: int) -> list[str]:
    """Enqueue the summary email for each attendee; return the job ids."""
    meeting = get_meeting(meeting_id)
    analysis = Analysis.objects.filter(meeting=meeting).first()
    if analysis is None:
        raise UnrecoverableError(f"Meeting {meeting_id} has no analysis to send.")

    job_ids = send_meeting_summary(
        recipients=meeting.attendee_emails,
        meeting_title=meeting.title,
        analysis=analysis.data,
    )
    _set_status(meeting, MeetingStatus.NOTIFIED)
    logger.info("Meeting %s: %d summary emails enqueued.", meeting_id, len(job_ids))
    return job_ids
