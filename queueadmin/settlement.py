"""Redis commands that middleware defers until its job's message is acknowledged.

Sent one by one, the idempotency marker and the delivery count would cost a
Redis round trip each before the ack. The project broker sends the deferred
commands, the buffered job events and the ack or nack in one script call
instead (``lua/settle.lua``), so one round trip settles a job. A command runs
only if the message is settled: when the worker process dies before that, the
message is redelivered and its commands never run, which is what an
unacknowledged attempt should leave behind.

Deferred commands are data, not callables, so that the settle script can run
them: deleting a key, setting one with a lifetime, and deleting one only while
it contains a given value. Brokers that do not settle deferred commands run them
at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import redis

#: Broker attribute, True when the broker sends deferred commands with its acks.
SETTLES_DEFERRED_COMMANDS = "settles_deferred_commands"

# Deletes KEYS[1] only while it contains ARGV[1], as the settle script's "delifeq".
_DELETE_IF_EQUAL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Command:
    """One deferred Redis command: its name in the settle script and its arguments."""

    name: str
    args: tuple[str | int, ...]

    def run(self, client: redis.Redis) -> None:
        """Run the command at once on ``client``."""
        if self.name == "del":
            client.delete(self.args[0])
        elif self.name == "setex":
            key, value, seconds = self.args
            client.set(key, value, ex=seconds)
        else:
            client.eval(_DELETE_IF_EQUAL, 1, *self.args)


def delete(key: str) -> Command:
    """Return the command ``DEL key``."""
    return Command("del", (key,))


def set_with_lifetime(key: str, value: str, seconds: int) -> Command:
    """Return the command ``SET key value EX seconds``."""
    return Command("setex", (key, value, int(seconds)))


def delete_if_equal(key: str, value: str) -> Command:
    """Return the command that deletes ``key`` only while it contains ``value``."""
    return Command("delifeq", (key, value))


_lock = threading.Lock()
_pending: dict[str, list[Command]] = {}


def defer(broker: Any, message: Any, command: Command) -> None:
    """Run ``command`` with the ack or nack of ``message``, or at once on other brokers."""
    delivery_id = message.options.get("redis_message_id")
    if not getattr(broker, SETTLES_DEFERRED_COMMANDS, False) or delivery_id is None:
        command.run(broker.client)
        return
    with _lock:
        _pending.setdefault(delivery_id, []).append(command)


def take(delivery_id: str) -> list[Command]:
    """Remove and return the commands deferred for the message ``delivery_id``."""
    with _lock:
        return _pending.pop(delivery_id, [])


def restore(delivery_id: str, commands: list[Command]) -> None:
    """Put back commands whose settlement failed, ahead of any deferred since."""
    if not commands:
        return
    with _lock:
        _pending[delivery_id] = commands + _pending.get(delivery_id, [])


def script_args(commands: list[Command]) -> list[str | int]:
    """Return ``commands`` as the settle script's arguments."""
    args: list[str | int] = []
    for command in commands:
        args.append(command.name)
        args.extend(command.args)
    return args
