"""Payload models of the notification jobs."""

from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class EmailJob(BaseModel):
    """One templated email to one recipient."""

    model_config = ConfigDict(extra="forbid")

    to: EmailStr
    template: str = Field(pattern=r"^[a-z_]+$", description="a folder under templates/notifications/")
    context: dict[str, Any] = Field(default_factory=dict)
