"""Per-queue defaults for job age and time limits, with per-actor overrides.

Actors override the defaults with Dramatiq's ``max_age`` and ``time_limit``
options, in milliseconds; a message option of the same name wins over both.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from dramatiq.common import q_name


def _queue_setting_ms(setting: dict[str, int], queue_name: str) -> int | None:
    seconds = setting.get(q_name(queue_name))
    return None if seconds is None else seconds * 1000


def get_max_age_ms(actor: Any, message: Any) -> int | None:
    """Return the maximum age of ``message`` in milliseconds, or None for no limit."""
    return (
        message.options.get("max_age")
        or actor.options.get("max_age")
        or _queue_setting_ms(settings.QUEUE_MAX_AGE_SECONDS, message.queue_name)
    )


def get_time_limit_ms(actor: Any, message: Any) -> int | None:
    """Return the time limit of ``message`` in milliseconds, or None for the global one."""
    return message.options.get("time_limit") or get_actor_time_limit_ms(actor, message.queue_name)


def get_actor_time_limit_ms(actor: Any, queue_name: str) -> int | None:
    """Return the time limit of ``actor``'s jobs without one of their own, or None for the global one."""
    return actor.options.get("time_limit") or _queue_setting_ms(
        settings.QUEUE_TIME_LIMIT_SECONDS, queue_name
    )
