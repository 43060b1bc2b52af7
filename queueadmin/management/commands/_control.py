"""Shared parts of the queue control commands."""

from __future__ import annotations

import getpass

from django.core.management.base import CommandError

from queueadmin.audit import Operator
from queueadmin.pausing import check_queue
from queueadmin.queues import UnknownQueueError


def command_operator() -> Operator:
    """Return the operator of a management command: the operating-system user."""
    return Operator(username=getpass.getuser(), channel="command")


def checked_queue(name: str) -> str:
    """Return ``name`` or raise ``CommandError`` naming the known queues."""
    try:
        return check_queue(name)
    except UnknownQueueError as exc:
        raise CommandError(str(exc)) from None
