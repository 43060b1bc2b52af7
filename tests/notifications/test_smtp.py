"""Emails sent by a real worker to a real local SMTP server."""

from __future__ import annotations

import email
from email import policy

import pytest

from notifications.services import send_notification_email, send_verification_email
from queueadmin.models import JobRecord, JobStatus
from tests.helpers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _finished(job_id: str) -> JobRecord:
    def finished():
        record = JobRecord.objects.filter(job_id=job_id).first()
        if record and record.status in (JobStatus.SUCCEEDED, JobStatus.DEAD):
            return record
        return None

    return wait_until(finished, timeout=60)


def test_verification_email_received(smtp_worker, smtp_server, settings):
    _, handler = smtp_server

    job_id = send_verification_email(
        "new.user@example.com", "482913", "https://app.test/v?t=ab&x=1"
    )
    record = _finished(job_id)

    assert record.status == JobStatus.SUCCEEDED
    assert len(handler.messages) == 1
    message = email.message_from_bytes(handler.messages[0], policy=policy.default)
    assert message["To"] == "new.user@example.com"
    assert message["From"] == settings.DEFAULT_FROM_EMAIL
    assert message["Subject"] == "[Meetingflow] Your verification code is 482913"
    assert message.get_content_type() == "multipart/alternative"
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    assert "482913" in text_part.get_content()
    assert "https://app.test/v?t=ab&x=1" in text_part.get_content()
    assert "482913" in html_part.get_content()
    assert 'href="https://app.test/v?t=ab&amp;x=1"' in html_part.get_content()
    assert handler.envelopes[0][1] == ["new.user@example.com"]


def test_4xx_reply_retried_then_sent(smtp_worker, smtp_server):
    _, handler = smtp_server
    handler.data_replies.append("451 4.3.0 Mail server busy, try again")

    job_id = send_notification_email(
        "ops@example.com", "Disk almost full", "Volume /data is 91% full."
    )
    record = _finished(job_id)

    assert record.status == JobStatus.SUCCEEDED
    assert record.attempts == 2
    assert handler.data_commands == 2
    assert len(handler.messages) == 1
    message = email.message_from_bytes(handler.messages[0], policy=policy.default)
    assert message["Subject"] == "[Meetingflow] Disk almost full"
    assert "Volume /data is 91% full." in message.get_body(("plain",)).get_content()


def test_5xx_reply_dead_letters_job(smtp_worker, smtp_server):
    _, handler = smtp_server
    handler.data_replies.extend(["554 5.7.1 Message rejected as spam"] * 3)

    job_id = send_notification_email("ops@example.com", "Report", "Numbers attached.")
    record = _finished(job_id)

    assert record.status == JobStatus.DEAD
    assert record.attempts == 1
    assert handler.data_commands == 1
    assert "554" in record.last_error
    assert "5.7.1 Message rejected as spam" in record.last_error
    assert handler.messages == []


def test_connection_refused_retried(worker_factory, settings):
    # Nothing listens on this port, so every attempt fails to connect.
    from tests.notifications.conftest import _free_port

    worker_factory(
        ["emails"],
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(_free_port()),
    )

    job_id = send_notification_email("ops@example.com", "Ping", "Are you there?")
    record = _finished(job_id)

    assert record.status == JobStatus.DEAD
    assert record.attempts == settings.QUEUE_DEFAULT_ATTEMPTS
    assert "RecoverableError: SMTP connection failed" in record.last_error


def test_reminder_rendered_in_worker(smtp_worker, smtp_server):
    from datetime import datetime, timezone

    from notifications.services import send_meeting_reminder_email

    _, handler = smtp_server
    starts_at = datetime(2026, 7, 1, 23, 15, tzinfo=timezone.utc)

    job_id = send_meeting_reminder_email(
        "guest@example.com", "Launch sync", starts_at, "America/New_York", "https://m.test/j/9"
    )
    record = _finished(job_id)

    assert record.status == JobStatus.SUCCEEDED, record.last_error
    message = email.message_from_bytes(handler.messages[0], policy=policy.default)
    assert message["Subject"] == "[Meetingflow] Reminder: Launch sync at 19:15"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Wednesday, 2026-07-01 19:15 (America/New_York)" in text
    html = message.get_body(preferencelist=("html",)).get_content()
    assert 'href="https://m.test/j/9"' in html
