"""Age and time limits with per-queue defaults, measured on the Redis clock."""

from __future__ import annotations

import logging
import threading

import redis

from dramatiq.middleware import AgeLimit, SkipMessage, TimeLimit

from queueadmin.limits import get_max_age_ms, get_time_limit_ms
from queueadmin.servertime import current_redis_time_ms
from queueadmin.statuses import JobStatus

logger = logging.getLogger(__name__)

#: Message option: Redis server time, in ms, at which the job became due to run.
DUE_AT_OPTION = "due_at_ms"


class QueueAgeLimit(AgeLimit):
    """Drop jobs older than their queue's maximum age and record them as expired.

    Every enqueue (first send, retry, or move from the delay queue) stamps the
    message with the Redis server time plus its delay, so a delayed job's age
    counts from its due time and a retry's from its retry time. The worker
    compares that stamp with the Redis server time, one clock for all hosts.
    An expired message is acknowledged, not dead-lettered: it never runs.
    """

    def before_enqueue(self, broker, message, delay):
        client = getattr(broker, "client", None)
        if client is None:
            return
        try:
            message.options[DUE_AT_OPTION] = current_redis_time_ms(client) + (delay or 0)
        except redis.RedisError as exc:
            # The enqueue that follows fails too and the caller handles it.
            logger.warning("Reading the Redis clock for job %s failed: %s", message.message_id, exc)

    def before_enqueue_many(self, broker, messages, delay):
        client = getattr(broker, "client", None)
        if client is None:
            return
        try:
            due_at = current_redis_time_ms(client) + (delay or 0)
        except redis.RedisError as exc:
            logger.warning("Reading the Redis clock for %d jobs failed: %s", len(messages), exc)
            return
        for message in messages:
            message.options[DUE_AT_OPTION] = due_at

    def before_process_message(self, broker, message):
        actor = broker.get_actor(message.actor_name)
        max_age = get_max_age_ms(actor, message)
        if not max_age:
            return

        age = self._age_ms(broker, message)
        if age < max_age:
            return

        reason = f"age limit exceeded: {age} ms old, limit {max_age} ms"
        logger.warning("Dropping job %s of %s: %s.", message.message_id, actor.actor_name, reason)
        message.options["skip_reason"] = reason
        message.options["skip_status"] = JobStatus.EXPIRED
        raise SkipMessage(reason)

    @staticmethod
    def _age_ms(broker, message) -> int:
        client = getattr(broker, "client", None)
        due_at = message.options.get(DUE_AT_OPTION)
        if client is None or due_at is None:
            # NOTE: without a Redis stamp the age uses the producer's clock.
            from dramatiq.common import current_millis

            return current_millis() - message.message_timestamp
        return current_redis_time_ms(client) - int(due_at)


class QueueTimeLimit(TimeLimit):
    """Interrupt jobs that run longer than their actor's or queue's time limit.

    The limit is the message's or actor's ``time_limit`` option, else
    ``QUEUE_TIME_LIMIT_SECONDS`` of the queue, else Dramatiq's default.
    """

    def before_process_message(self, broker, message):
        actor = broker.get_actor(message.actor_name)
        limit = get_time_limit_ms(actor, message) or self.time_limit
        self.manager.add_timeout(threading.get_ident(), limit)
