"""Payload models of the meetings jobs."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class MeetingJob(BaseModel):
    """A job about one stored meeting."""

    model_config = ConfigDict(extra="forbid")

    meeting_id: int = Field(gt=0)


class ReminderJob(BaseModel):
    """The reminder of one meeting, for the start time it was scheduled for."""

    model_config = ConfigDict(extra="forbid")

    meeting_id: int = Field(gt=0)
    starts_at: datetime
