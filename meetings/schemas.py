"""Request and response schemas of the meetings API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import EmailStr, Field


class MeetingIn(Schema):
    """A transcript sent as JSON, with the file's text in ``transcript``."""

    title: str = Field("", max_length=255)
    attendees: list[EmailStr] = Field(default_factory=list, max_length=500)
    organizer: EmailStr | None = None
    filename: str = Field("transcript.txt", max_length=200)
    transcript: str = Field(min_length=1)


class SubmissionOut(Schema):
    meeting_id: int
    job_id: str
    status: str


class MeetingOut(Schema):
    id: int
    title: str
    status: str
    failure_reason: str
    source: str
    transcript_format: str
    attendees: list[str]
    utterance_count: int
    created_at: datetime
    updated_at: datetime
    analysis: dict[str, Any] | None


class ErrorOut(Schema):
    detail: str
