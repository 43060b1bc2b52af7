"""Actors that send email."""

from __future__ import annotations

import logging

from notifications.payloads import EmailJob
from notifications.rendering import build_email
from notifications.smtp_errors import classify_smtp_error
from queueadmin import queues
from queueadmin.actors import job_actor

logger = logging.getLogger(__name__)


@job_actor(queue=queues.EMAILS, payload=EmailJob)
def send_email(job: EmailJob) -> str:
    """Render the template and send one email to ``job.to``.

    SMTP 4xx replies and connection failures are retried, 5xx replies
    dead-letter the job with the server's reply. A retry after a failed send
    delivers a second copy only when the server accepted the message but
    the connection broke before its reply arrived.
    """
    message = build_email(str(job.to), job.template, job.context)
    try:
        message.send(fail_silently=False)
    except OSError as exc:  # smtplib.SMTPException derives from OSError
        job_error = classify_smtp_error(exc)
        if job_error is None:
            raise
        raise job_error from exc
    logger.info("Sent %s email to %s.", job.template, job.to)
    return str(job.to)
