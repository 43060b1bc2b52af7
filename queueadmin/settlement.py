"""Redis commands that middleware defers until its job's message is acknowledged.

Sent one by one, the idempotency marker, the delivery count and the job
events would cost a Redis round trip each before the ack. The project broker
sends the deferred commands, the buffered job events and the ack or nack in
one pipeline instead, events and commands first, so one round trip settles a
job. A command runs only if the message is settled: when the worker process
dies before that, the message is redelivered and its commands never run,
which is what an unacknowledged attempt should leave behind.

Brokers that do not settle deferred commands run them at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

#: A function that adds commands to a Redis pipeline (or runs them on a client).
Command = Callable[[Any], None]

#: Broker attribute, True when the broker sends deferred commands with its acks.
SETTLES_DEFERRED_COMMANDS = "settles_deferred_commands"

_lock = threading.Lock()
_pending: dict[str, list[Command]] = {}


def defer(broker: Any, message: Any, command: Command) -> None:
    """Run ``command`` with the ack or nack of ``message``, or at once on other brokers."""
    delivery_id = message.options.get("redis_message_id")
    if not getattr(broker, SETTLES_DEFERRED_COMMANDS, False) or delivery_id is None:
        command(broker.client)
        return
    with _lock:
        _pending.setdefault(delivery_id, []).append(command)


def take(delivery_id: str) -> list[Command]:
    """Remove and return the commands deferred for the message ``delivery_id``."""
    with _lock:
        return _pending.pop(delivery_id, [])


def restore(delivery_id: str, commands: list[Command]) -> None:
    """Put back commands whose pipeline failed, ahead of any deferred since."""
    if not commands:
        return
    with _lock:
        _pending[delivery_id] = commands + _pending.get(delivery_id, [])
