"""Classify SMTP failures as passing (retried) or permanent (dead-lettered).

SMTP reply codes 4xx are transient and 5xx permanent (RFC 5321, 4.2.1).
Connection failures and timeouts count as transient too.
"""

from __future__ import annotations

import smtplib

from queueadmin.errors import JobError, RecoverableError, UnrecoverableError


def _reply_text(error: bytes | str) -> str:
    return error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)


def classify_smtp_error(exc: BaseException) -> JobError | None:
    """Return the job error for an SMTP send failure, or None when it is not one.

    The returned error's message carries the server's reply code and text.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = {
            address: (code, _reply_text(text)) for address, (code, text) in exc.recipients.items()
        }
        details = "; ".join(
            f"{address}: {code} {text}" for address, (code, text) in replies.items()
        )
        message = f"SMTP server rejected the recipients: {details}"
        if all(400 <= code < 500 for code, _ in replies.values()):
            return RecoverableError(message)
        return UnrecoverableError(message)
    if isinstance(exc, smtplib.SMTPResponseException):
        message = f"SMTP server replied {exc.smtp_code} {_reply_text(exc.smtp_error)}"
        if 400 <= exc.smtp_code < 500 or exc.smtp_code < 0:
            # A negative code comes from smtplib itself (no valid reply).
            return RecoverableError(message)
        return UnrecoverableError(message)
    if isinstance(exc, (smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError)):
        return RecoverableError(f"SMTP connection failed: {type(exc).__name__}: {exc}")
    if isinstance(exc, OSError):
        return RecoverableError(f"SMTP connection failed: {type(exc).__name__}: {exc}")
    return None
