"""Email senders that other apps call; each enqueues one job per recipient."""

from __future__ import annotations

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
