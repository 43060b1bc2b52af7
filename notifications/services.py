"""Email senders that other apps call; each enqueues one job per recipient."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def send_meeting_summary(
    *, recipients: list[str], meeting_title: str, analysis: dict[str, Any]
) -> list[str]:
    """Enqueue the meeting-summary email to each recipient; return the job ids.

    ``analysis`` is the stored analysis dict (speakers, sentiment, keywords).

    Raises:
      InvalidPayloadError: a recipient address is invalid; no job is sent
        for any recipient then.
    """
    from notifications.tasks import send_email

    context = {"meeting_title": meeting_title, "analysis": analysis}
    payloads = [
        send_email.validate(to=address, template="meeting_summary", context=context)
        for address in recipients
    ]
    return [send_email.enqueue(payload) for payload in payloads]


def send_meeting_reminder_email(
    email: str, title: str, starts_at: datetime, timezone: str, join_url: str
) -> str:
    """Enqueue one meeting reminder email; return the job id.

    The start time is shown in the IANA time zone ``timezone``.

    Raises:
      InvalidPayloadError: an invalid address.
    """
    from notifications.tasks import send_email

    context = {"title": title, "starts_at": starts_at, "time_zone": timezone, "join_url": join_url}
    return send_email.enqueue(to=email, template="meeting_reminder", context=context)
