"""Job priority levels and how they are stored."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

#: Message option with the job's priority level.
PRIORITY_OPTION = "priority"


class Priority(StrEnum):
    """Priority level of a job relative to the other jobs waiting in its queue.

    On Redis each level has its own list per queue, and a worker fetches from
    ``high`` first, then ``normal``, then ``low``.
    """

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


#: Each level by its name; a dictionary lookup costs less than ``Priority(value)``.
_LEVELS: dict[str, Priority] = {level.value: level for level in Priority}

#: ``JobRecord.priority`` per level: lower runs first, as with Dramatiq's
#: actor priority.
PRIORITY_RANKS = {Priority.HIGH: -1, Priority.NORMAL: 0, Priority.LOW: 1}


def parse_priority(value: Priority | str | None) -> Priority:
    """Return the level named by ``value``; None means normal.

    Raises:
      ValueError: ``value`` is not high, normal or low.
    """
    if value is None:
        return Priority.NORMAL
    level = _LEVELS.get(value) if isinstance(value, str) else None
    if level is None:
        allowed = ", ".join(choice.value for choice in Priority)
        raise ValueError(f"Invalid priority {value!r}; allowed: {allowed}.")
    return level


#: Each level's value by the level or by the value itself. A lookup here costs
#: less than the enum's ``value`` attribute, which is a descriptor.
PRIORITY_VALUES: dict[str, str] = {level: level.value for level in Priority}
_NORMAL = Priority.NORMAL.value


def priority_value(message: Any) -> str:
    """Return ``get_priority(message).value``, without building a ``Priority``."""
    value = message.options.get(PRIORITY_OPTION)
    return PRIORITY_VALUES.get(value, _NORMAL) if isinstance(value, str) else _NORMAL


def get_priority(message: Any) -> Priority:
    """Return the priority level of a Dramatiq message (normal when unset or unknown)."""
    return _LEVELS[priority_value(message)]
