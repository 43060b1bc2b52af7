"""Render templated emails: a subject, a text part and an HTML part."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def build_email(to: str, template: str, context: dict[str, Any]) -> EmailMultiAlternatives:
    """Return the message for ``templates/notifications/<template>/``.

    The folder contains ``subject.txt``, ``body.txt`` and ``body.html``.
    """
    base = f"notifications/{template}"
    subject = render_to_string(f"{base}/subject.txt", context).strip()
    text_body = render_to_string(f"{base}/body.txt", context)
    html_body = render_to_string(f"{base}/body.html", context)

    message = EmailMultiAlternatives(
        subject=f"{settings.NOTIFICATIONS_SUBJECT_PREFIX}{subject}",
        body=text_body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
    )
    message.attach_alternative(html_body, "text/html")
    return message
