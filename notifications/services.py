"""Email senders that other apps call; each enqueues one job per recipient.

Every sender validates its arguments before anything is enqueued and raises
``InvalidPayloadError`` naming the invalid field. Each returns the job id (or
ids). A job that fails leaves nothing behind but its job record: SMTP 4xx
replies and connection failures are retried, 5xx replies dead-letter the job
with the server's reply in ``JobRecord.last_error``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, TypeAdapter, ValidationError

from queueadmin.errors import InvalidPayloadError

_HTTP_URL = TypeAdapter(AnyHttpUrl)


def _send(template: str, email: str, context: dict[str, Any]) -> str:
    from notifications.tasks import send_email

    return send_email.enqueue(to=email, template=template, context=context)


def _check_url(field: str, value: str) -> None:
    try:
        _HTTP_URL.validate_python(value)
    except ValidationError:
        raise InvalidPayloadError(
            "send_email", [(field, f"{value!r} is not an http:// or https:// URL")]
        ) from None


def _check_aware(field: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidPayloadError(
            "send_email", [(field, f"{value!r} is not a timezone-aware datetime")]
        )


def _check_text(field: str, value: str, max_length: int) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise InvalidPayloadError(
            "send_email",
            [(field, f"must be non-empty text of at most {max_length} characters")],
        )


def send_verification_email(email: str, code: str, url: str) -> str:
    """Enqueue the email that confirms an address with ``code`` and a link ``url``."""
    _check_text("code", code, 64)
    _check_url("url", url)
    return _send("verification", email, {"code": code, "url": url})


def send_password_reset_email(email: str, url: str, expires_at: datetime) -> str:
    """Enqueue the password reset email with its link and the link's expiry time."""
    _check_url("url", url)
    _check_aware("expires_at", expires_at)
    return _send("password_reset", email, {"url": url, "expires_at": expires_at})


def send_notification_email(email: str, subject: str, message: str) -> str:
    """Enqueue a plain notification; ``message`` is text, shown as paragraphs in HTML."""
    _check_text("subject", subject, 200)
    if "\n" in subject or "\r" in subject:
        raise InvalidPayloadError("send_email", [("subject", "must be a single line")])
    _check_text("message", message, 100_000)
    return _send("notification", email, {"subject": subject, "message": message})


def send_meeting_reminder_email(
    email: str, title: str, starts_at: datetime, timezone: str, join_url: str
) -> str:
    """Enqueue a meeting reminder; the start time is shown in the IANA zone ``timezone``."""
    _check_text("title", title, 255)
    _check_aware("starts_at", starts_at)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidPayloadError(
            "send_email", [("timezone", f"{timezone!r} is not an IANA time zone name")]
        ) from None
    _check_url("join_url", join_url)
    context = {"title": title, "starts_at": starts_at, "time_zone": timezone, "join_url": join_url}
    return _send("meeting_reminder", email, context)


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
