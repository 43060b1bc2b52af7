"""A real SMTP server (aiosmtpd) on 127.0.0.1 that can reply with chosen codes."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller


class RecordingHandler:
    """Store each accepted message, replying to DATA with queued replies first."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.data_replies: list[str] = []
        self.data_commands = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        self.data_commands += 1
        if self.data_replies:
            return self.data_replies.pop(0)
        self.messages.append(envelope.original_content or envelope.content)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 Message accepted"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, RecordingHandler]]:
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, handler
    controller.stop()


@pytest.fixture
def smtp_worker(worker_factory, smtp_server):
    """A worker on the emails queue that sends through the test SMTP server."""
    controller, _ = smtp_server
    return worker_factory(
        ["emails"],
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(controller.port),
    )
