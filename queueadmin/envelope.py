"""The job envelope: the fields every job carries beside its payload."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: The message option under which the envelope travels.
ENVELOPE_OPTION = "envelope"

#: Maximum lengths of the envelope's text fields, in characters.
MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_CORRELATION_ID_LENGTH = 128
MAX_USER_ID_LENGTH = 128


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class JobEnvelope(BaseModel):
    """Identity and tracing fields of one job.

    ``idempotency_key`` defaults to the job id, so that a redelivered message
    is still recognised even when the caller gave no key.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    idempotency_key: str = Field(min_length=1, max_length=MAX_IDEMPOTENCY_KEY_LENGTH)
    correlation_id: str = Field(min_length=1, max_length=MAX_CORRELATION_ID_LENGTH)
    user_id: str | None = Field(default=None, max_length=MAX_USER_ID_LENGTH)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=_utcnow)

    def to_option(self) -> dict[str, Any]:
        """Return the envelope as a JSON-safe dict for the message options."""
        from queueadmin.encoding import encode_value

        data = self.model_dump(mode="python")
        data["metadata"] = encode_value(self.metadata, "metadata")
        data["created_at"] = self.created_at.isoformat()
        return data

    @classmethod
    def from_option(cls, data: dict[str, Any]) -> JobEnvelope:
        from queueadmin.encoding import decode_value

        return cls.model_validate({**data, "metadata": decode_value(data.get("metadata", {}))})


def get_envelope(message: Any) -> JobEnvelope | None:
    """Return the envelope of a Dramatiq message, or None for a bare message."""
    data = message.options.get(ENVELOPE_OPTION)
    if data is None:
        return None
    return JobEnvelope.from_option(data)


def envelope_field(message: Any, name: str) -> Any:
    """Return one field of a message's envelope as sent, or None when it has none.

    The enqueue validated the envelope, so a worker that needs one field
    reads it from the message option without building a ``JobEnvelope``,
    which would cost each job several microseconds. The value is not checked:
    a message sent by other code may carry any JSON value there.
    """
    data = message.options.get(ENVELOPE_OPTION)
    return data.get(name) if isinstance(data, dict) else None
