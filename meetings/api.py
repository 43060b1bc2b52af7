"""REST endpoints for meetings: submit a transcript and read its status."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import ValidationError

from meetings.models import Meeting, MeetingSource
from meetings.schemas import ErrorOut, MeetingIn, MeetingOut, SubmissionOut
from meetings.services import SubmissionError, TranscriptTooLargeError, submit_transcript
from queueadmin.auth import api_auth

logger = logging.getLogger(__name__)

router = Router(auth=api_auth(), tags=["meetings"])

#: Room for multipart boundaries and form fields beside the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024

_REQUEST_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "title": {"type": "string"},
                        "attendees": {"type": "array", "items": {"type": "string", "format": "email"}},
                        "organizer": {"type": "string", "format": "email"},
                    },
                }
            },
            "application/json": {"schema": MeetingIn.model_json_schema()},
        },
    }
}


def _too_large(size: int | str) -> tuple[int, ErrorOut]:
    limit = settings.MEETINGS_MAX_UPLOAD_BYTES
    return 413, ErrorOut(detail=f"Upload of {size} bytes is over the limit of {limit} bytes.")


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _submission_from_multipart(request: HttpRequest) -> dict:
    upload = request.FILES.get("file")
    if upload is None:
        raise NinjaValidationError(
            [{"loc": ["body", "file"], "msg": "Field required", "type": "missing"}]
        )
    if upload.size > settings.MEETINGS_MAX_UPLOAD_BYTES:
        raise TranscriptTooLargeError("file", str(upload.size))
    try:
        form = MeetingIn.model_validate(
            {
                "title": request.POST.get("title", ""),
                "attendees": request.POST.getlist("attendees"),
                "organizer": request.POST.get("organizer") or None,
                "transcript": "-",
            }
        )
    except ValidationError as exc:
        raise NinjaValidationError(_body_errors(exc)) from None
    return {
        "content": upload.read(),
        "filename": upload.name or "transcript.txt",
        "title": form.title,
        "attendees": [str(address) for address in form.attendees],
        "organizer": str(form.organizer or ""),
    }


def _submission_from_json(request: HttpRequest) -> dict:
    try:
        body = MeetingIn.model_validate_json(request.body or b"{}")
    except ValidationError as exc:
        raise NinjaValidationError(_body_errors(exc)) from None
    return {
        "content": body.transcript.encode("utf-8"),
        "filename": body.filename,
        "title": body.title,
        "attendees": [str(address) for address in body.attendees],
        "organizer": str(body.organizer or ""),
    }


def _body_errors(exc: ValidationError) -> list[dict]:
    return [
        {"loc": ["body", *error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_input=False)
    ]


@router.post(
    "",
    response={202: SubmissionOut, 400: ErrorOut, 413: ErrorOut},
    openapi_extra=_REQUEST_BODY_DOC,
    summary="Submit a transcript",
)
def submit_meeting(request: HttpRequest):
    """Store a transcript (multipart ``file`` or JSON) and start its processing.

    Accepted formats are QMSum JSON, WebVTT, SRT and plain ``Speaker: text``
    lines. The workers detect the format, and they mark the meeting failed with
    the reason when it cannot be parsed.
    """
    if _content_length(request) > settings.MEETINGS_MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES:
        return _too_large(_content_length(request))
    try:
        if request.content_type == "multipart/form-data":
            fields = _submission_from_multipart(request)
        else:
            fields = _submission_from_json(request)
        submission = submit_transcript(
            **fields, source=MeetingSource.API, user_id=request.auth.pk
        )
    except RequestDataTooBig:
        return _too_large(_content_length(request))
    except TranscriptTooLargeError as exc:
        return 413, ErrorOut(detail=str(exc))
    except SubmissionError as exc:
        return 400, ErrorOut(detail=str(exc))
    return 202, SubmissionOut(
        meeting_id=submission.meeting.pk,
        job_id=submission.job_id,
        status=submission.meeting.status,
    )


@router.get("/{meeting_id}", response=MeetingOut, summary="Read a meeting")
def get_meeting(request: HttpRequest, meeting_id: int):
    """Return the meeting's status and, once it is analysed, its analysis."""
    meeting = get_object_or_404(Meeting.objects.select_related("analysis"), pk=meeting_id)
    analysis = getattr(meeting, "analysis", None)
    return MeetingOut(
        id=meeting.pk,
        title=meeting.title,
        status=meeting.status,
        failure_reason=meeting.failure_reason,
        source=meeting.source,
        transcript_format=meeting.transcript_format,
        attendees=meeting.attendee_emails,
        utterance_count=meeting.utterances.count(),
        created_at=meeting.created_at,
        updated_at=meeting.updated_at,
        analysis=analysis.data if analysis else None,
    )
