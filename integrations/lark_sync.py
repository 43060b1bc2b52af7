"""Write a meeting's analysis as one row of the Lark Bitable table."""

from __future__ import annotations

import logging
from typing import Any

from integrations.http import ProviderRejectedError
from integrations.lark_bitable import LarkBitableClient, is_configured
from integrations.models import ExternalSync, SyncStatus, SyncTarget
from meetings.models import Analysis, Meeting
from queueadmin.errors import UnrecoverableError

logger = logging.getLogger(__name__)

#: Lark code for a record_id that is not in the table (deleted by a user).
RECORD_NOT_FOUND_CODE = "1254043"


def build_row(meeting: Meeting, analysis: Analysis) -> dict[str, Any]:
    """Return the Bitable fields of a meeting's analysis.

    The table needs text columns "Meeting ID", "Title", "Speakers" and
    "Keywords", number columns "Word count" and "Sentiment", and a date column
    "Starts at" (milliseconds since the epoch, as Bitable dates are).
    """
    data = analysis.data or {}
    speakers = [str(item.get("speaker", "")) for item in data.get("speakers") or []]
    keywords = [
        str(item.get("word") if isinstance(item, dict) else item)
        for item in data.get("keywords") or []
    ]
    row: dict[str, Any] = {
        "Meeting ID": str(meeting.pk),
        "Title": meeting.title,
        "Word count": analysis.word_count,
        "Sentiment": round(analysis.sentiment, 4),
        "Speakers": ", ".join(filter(None, speakers)),
        "Keywords": ", ".join(filter(None, keywords)),
    }
    if meeting.starts_at is not None:
        row["Starts at"] = int(meeting.starts_at.timestamp() * 1000)
    return row


def record_skipped(meeting_id: int, reason: str) -> None:
    """Record that the Lark sync of a meeting was skipped, and why."""
    ExternalSync.objects.update_or_create(
        meeting_id=meeting_id,
        target=SyncTarget.LARK_BITABLE,
        defaults={"status": SyncStatus.SKIPPED, "detail": reason},
    )
    logger.info("Meeting %s: Lark Bitable sync skipped: %s", meeting_id, reason)


def sync_meeting_analysis(meeting_id: int, *, client: LarkBitableClient | None = None) -> str:
    """Create or update the meeting's row in the Bitable table; return its record_id.

    The record_id is kept in ``ExternalSync``, so running again updates the
    same row; a row deleted in Lark is created again. A failed call leaves the
    ``ExternalSync`` row as it was, and Lark's table unchanged.

    Raises:
      UnrecoverableError: the meeting or its analysis is missing, Lark is not
        configured, or Lark rejected the request.
      RecoverableError: a timeout, a connection error, or Lark asked to retry.
    """
    meeting = Meeting.objects.filter(pk=meeting_id).first()
    analysis = Analysis.objects.filter(meeting_id=meeting_id).first()
    if meeting is None or analysis is None:
        raise UnrecoverableError(f"Meeting {meeting_id} or its analysis does not exist.")
    if client is None and not is_configured():
        record_skipped(meeting_id, "Lark Bitable is not configured.")
        return ""

    row = build_row(meeting, analysis)
    state = ExternalSync.objects.filter(
        meeting_id=meeting_id, target=SyncTarget.LARK_BITABLE
    ).first()
    owned_client = client is None
    client = client or LarkBitableClient()
    try:
        record_id = _write_row(client, state.external_id if state else "", row)
    finally:
        if owned_client:
            client.close()

    ExternalSync.objects.update_or_create(
        meeting_id=meeting_id,
        target=SyncTarget.LARK_BITABLE,
        defaults={"status": SyncStatus.SYNCED, "external_id": record_id, "detail": ""},
    )
    logger.info("Meeting %s synced to Lark Bitable record %s.", meeting_id, record_id)
    return record_id


def _write_row(client: LarkBitableClient, record_id: str, row: dict[str, Any]) -> str:
    if not record_id:
        return client.create_record(row)
    try:
        client.update_record(record_id, row)
    except ProviderRejectedError as exc:
        if exc.code != RECORD_NOT_FOUND_CODE:
            raise
        logger.info("Lark record %s no longer exists; creating a new one.", record_id)
        return client.create_record(row)
    return record_id
