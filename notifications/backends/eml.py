"""Email backend that writes each message to its own ``.eml`` file."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

_UNSAFE = re.compile(r"[^A-Za-z0-9@._-]+")


class EmlEmailBackend(BaseEmailBackend):
    """Write one RFC 5322 file per message into ``EMAIL_FILE_PATH``.

    Mail clients open ``.eml`` files directly. The file name starts with the
    UTC time and the first recipient, so a directory listing reads as a log.
    """

    def __init__(self, *, file_path: str | Path | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.directory = Path(file_path or settings.EMAIL_FILE_PATH)

    def send_messages(self, email_messages) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            recipients = message.recipients()
            if not recipients:
                continue
            path = self.directory / self._file_name(recipients[0])
            path.write_bytes(message.message().as_bytes(linesep="\r\n"))
            sent += 1
        return sent

    @staticmethod
    def _file_name(recipient: str) -> str:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        return f"{stamp}-{_UNSAFE.sub('_', recipient)}-{uuid.uuid4().hex[:8]}.eml"
