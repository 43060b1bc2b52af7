"""Email senders: input checks at enqueue and the rendered templates."""

from __future__ import annotations

import smtplib
from datetime import datetime, timezone

import pytest

from notifications import services
from notifications.rendering import build_email
from notifications.smtp_errors import classify_smtp_error
from queueadmin.errors import InvalidPayloadError, RecoverableError, UnrecoverableError
from queueadmin.models import JobRecord

pytestmark = pytest.mark.django_db

STARTS_AT = datetime(2026, 3, 2, 1, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: services.send_verification_email("no-at-sign", "1234", "https://a.test/v"), "to"),
        (lambda: services.send_verification_email("a@example.com", "", "https://a.test/v"), "code"),
        (lambda: services.send_verification_email("a@example.com", "1", "javascript:x"), "url"),
        (
            lambda: services.send_password_reset_email(
                "a@example.com", "https://a.test/r", datetime(2026, 1, 1)
            ),
            "expires_at",
        ),
        (lambda: services.send_notification_email("a@example.com", "A\nB", "text"), "subject"),
        (lambda: services.send_notification_email("a@@example.com", "Hi", "text"), "to"),
        (
            lambda: services.send_meeting_reminder_email(
                "a@example.com", "Standup", STARTS_AT, "Europe/Nowhere", "https://m.test/j"
            ),
            "timezone",
        ),
        (
            lambda: services.send_meeting_reminder_email(
                "a@example.com", "Standup", STARTS_AT, "UTC", "ftp://m.test/j"
            ),
            "join_url",
        ),
        (
            lambda: services.send_meeting_summary(
                recipients=["ok@example.com", "broken"], meeting_title="T", analysis={}
            ),
            "to",
        ),
    ],
)
def test_invalid_input_rejected_at_enqueue(call, field, broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as sends:
        with pytest.raises(InvalidPayloadError) as excinfo:
            call()

    assert field in [name for name, _ in excinfo.value.errors]
    assert sends == []


def test_reminder_shows_recipient_time_zone():
    context = {
        "title": "Budget review",
        "starts_at": STARTS_AT,
        "time_zone": "Asia/Shanghai",
        "join_url": "https://m.test/j/42",
    }

    message = build_email("a@example.com", "meeting_reminder", context)

    assert message.subject == "[Meetingflow] Reminder: Budget review at 09:30"
    assert "Monday, 2026-03-02 09:30 (Asia/Shanghai)" in message.body
    assert "https://m.test/j/42" in message.body
    html = message.alternatives[0][0]
    assert "Monday, 2026-03-02 09:30" in html
    assert 'href="https://m.test/j/42"' in html


def test_password_reset_shows_expiry():
    context = {"url": "https://a.test/reset/xyz", "expires_at": STARTS_AT}

    message = build_email("a@example.com", "password_reset", context)

    assert message.subject == "[Meetingflow] Reset your password"
    assert "https://a.test/reset/xyz" in message.body
    assert "2026-03-02 01:30 UTC" in message.body
    assert "2026-03-02 01:30 UTC" in message.alternatives[0][0]


def test_notification_escapes_html_only_in_html_part():
    context = {"subject": "R&D <update>", "message": "Line one & more\n\nLine <two>"}

    message = build_email("a@example.com", "notification", context)

    assert message.subject == "[Meetingflow] R&D <update>"
    assert "Line one & more" in message.body
    html = message.alternatives[0][0]
    assert "Line one &amp; more" in html
    assert "Line &lt;two&gt;" in html


def test_senders_enqueue_one_job_each(broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job_ids = [
            services.send_verification_email("a@example.com", "1234", "https://a.test/v"),
            services.send_password_reset_email("a@example.com", "https://a.test/r", STARTS_AT),
            services.send_notification_email("a@example.com", "Hello", "Text"),
            services.send_meeting_reminder_email(
                "a@example.com", "Standup", STARTS_AT, "Europe/Berlin", "https://m.test/j"
            ),
        ]

    records = JobRecord.objects.filter(job_id__in=job_ids)
    assert records.count() == 4
    templates = sorted(record.payload["template"] for record in records)
    assert templates == ["meeting_reminder", "notification", "password_reset", "verification"]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (smtplib.SMTPDataError(451, b"4.3.0 busy"), RecoverableError),
        (smtplib.SMTPDataError(550, b"5.1.1 no such user"), UnrecoverableError),
        (smtplib.SMTPSenderRefused(421, b"4.7.0 later", "a@b"), RecoverableError),
        (smtplib.SMTPServerDisconnected("gone"), RecoverableError),
        (ConnectionRefusedError(111, "refused"), RecoverableError),
        (TimeoutError("timed out"), RecoverableError),
        (
            smtplib.SMTPRecipientsRefused({"x@y.z": (550, b"5.1.1 unknown")}),
            UnrecoverableError,
        ),
        (
            smtplib.SMTPRecipientsRefused({"x@y.z": (452, b"4.2.2 mailbox full")}),
            RecoverableError,
        ),
    ],
)
def test_smtp_errors_classified(error, expected):
    job_error = classify_smtp_error(error)

    assert type(job_error) is expected
