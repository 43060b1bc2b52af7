"""Actors that send email."""

from __future__ import annotations

import logging

from notifications.payloads import EmailJob
from notifications.rendering import build_email
from queueadmin import queues
from queueadmin.actors import job_actor

logger = logging.getLogger(__name__)


@job_actor(queue=queues.EMAILS, payload=EmailJob)
def send_email(job: EmailJob) -> str:
    """Render the template and send one email to ``job.to``.

    A retry after a failed send delivers a second copy only when the server
    accepted the message but the connection broke before its reply arrived.
    """
    message = build_email(str(job.to), job.template, job.context)
    message.send(fail_silently=False)
    logger.info("Sent %s email to %s.", job.template, job.to)
    return str(job.to)
