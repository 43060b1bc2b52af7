"""Postpone jobs of actors whose rate limit is used up, without running them."""

from __future__ import annotations

import logging

from dramatiq.middleware import Middleware, SkipMessage
from dramatiq.rate_limits.backends import RedisBackend

from queueadmin.middleware.tracking import SKIP_REASON_OPTION
from queueadmin.ratelimits import RateLimit, get_rate
from queueadmin.statuses import JobStatus

logger = logging.getLogger(__name__)

#: Actor option naming the entry of ``QUEUE_RATE_LIMITS`` that guards the actor.
RATE_LIMIT_OPTION = "rate_limit"

#: Message option counting how often the job was postponed by its rate limit.
POSTPONED_OPTION = "rate_limit_postponed"


class RateLimits(Middleware):
    """Apply the actor option ``rate_limit="<name>"`` before each attempt.

    When the named limit is used up, the message is sent again with a delay
    until the limit's next bucket opens, and this delivery is skipped. No
    worker thread waits, and the retry count is unchanged, so waiting uses no
    attempt. List it before ``JobTracking``, so that a postponed job is not
    recorded as started.
    """

    def __init__(self) -> None:
        self._limits: dict[str, RateLimit] = {}

    @property
    def actor_options(self) -> set[str]:
        return {RATE_LIMIT_OPTION}

    def before_declare_actor(self, broker, actor):
        name = actor.options.get(RATE_LIMIT_OPTION)
        if name is not None:
            # Raises UnknownRateLimitError for a name missing from the settings.
            get_rate(name)

    def before_process_message(self, broker, message):
        actor = broker.get_actor(message.actor_name)
        name = actor.options.get(RATE_LIMIT_OPTION)
        if name is None:
            return
        limit = self._get_limit(broker, name)
        if limit.try_acquire():
            return

        delay = limit.delay_until_free_ms()
        postponed = message.options.get(POSTPONED_OPTION, 0) + 1
        broker.enqueue(message.copy(options={POSTPONED_OPTION: postponed}), delay=delay)
        reason = f"rate limit {name!r} reached; postponed by {delay} ms"
        message.options[SKIP_REASON_OPTION] = reason
        message.options["skip_status"] = JobStatus.DELAYED
        logger.info("Postponing job %s of %s: %s.", message.message_id, message.actor_name, reason)
        raise SkipMessage(reason)

    def _get_limit(self, broker, name: str) -> RateLimit:
        limit = self._limits.get(name)
        if limit is None:
            backend = RedisBackend(client=broker.client)
            limit = self._limits[name] = RateLimit(name, get_rate(name), backend, broker.namespace)
        return limit
