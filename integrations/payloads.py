"""Payload models of the integration jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field, TypeAdapter
from pydantic import model_validator

#: E.164: a "+", a country code that does not start with 0, at most 15 digits.
E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"


_HTTP_URL = TypeAdapter(AnyHttpUrl)


def _check_http_url(value: str) -> str:
    _HTTP_URL.validate_python(value)
    return value


#: An http:// or https:// URL, kept as the text given.
HttpUrlText = Annotated[str, AfterValidator(_check_http_url)]


class UploadRecordingJob(BaseModel):
    """A recording to fetch from ``file_url`` into the recording storage."""

    model_config = ConfigDict(extra="forbid")

    file_url: HttpUrlText
    file_name: str = Field(min_length=1, max_length=200, pattern=r"^[^/\\]+$")
    meeting_id: int = Field(gt=0)
    storage_provider: str = Field("local", pattern=r"^[a-z0-9_]+$")


class TencentMeetingSyncJob(BaseModel):
    """A period whose Tencent Meeting recordings are imported as meetings."""

    model_config = ConfigDict(extra="forbid")

    start: datetime
    end: datetime
    storage_provider: str = Field("local", pattern=r"^[a-z0-9_]+$")

    @model_validator(mode="after")
    def _check_period(self) -> TencentMeetingSyncJob:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class RecentTencentMeetingSyncJob(BaseModel):
    """The import of the Tencent Meeting recordings of the last ``lookback_hours``.

    The period ends at the fire time of the schedule that enqueued the job, or
    when the job starts if no schedule did.
    """

    model_config = ConfigDict(extra="forbid")

    lookback_hours: int = Field(24, ge=1, le=31 * 24)
    storage_provider: str = Field("local", pattern=r"^[a-z0-9_]+$")


class LarkBitableSyncJob(BaseModel):
    """A meeting whose analysis is written as a row of the Lark Bitable table."""

    model_config = ConfigDict(extra="forbid")

    meeting_id: int = Field(gt=0)


class SmsJob(BaseModel):
    """One templated text message to one phone number."""

    model_config = ConfigDict(extra="forbid")

    phone_number: str = Field(pattern=E164_PATTERN, description="an E.164 number, +8613800000000")
    template: str = Field(pattern=r"^[a-z_]+$", description="a name in SMS_TEMPLATES")
    params: list[str] = Field(default_factory=list, max_length=10)
