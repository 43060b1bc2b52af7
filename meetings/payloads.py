"""Payload models of the meetings jobs."""

from pydantic import BaseModel, ConfigDict, Field


class MeetingJob(BaseModel):
    """A job about one stored meeting."""

    model_config = ConfigDict(extra="forbid")

    meeting_id: int = Field(gt=0)
