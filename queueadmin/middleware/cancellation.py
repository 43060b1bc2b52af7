"""Skip jobs that an operator cancelled while they waited."""

from __future__ import annotations

import logging

from dramatiq.middleware import Middleware, SkipMessage

from queueadmin.middleware.tracking import SKIP_REASON_OPTION, SKIP_STATUS_OPTION
from queueadmin.redisclient import cancelled_key, get_redis
from queueadmin.statuses import JobStatus

logger = logging.getLogger(__name__)


class CancelledJobs(Middleware):
    """Skip a message whose job id is in the ``{namespace}:cancelled`` set.

    Costs one ``SISMEMBER`` per message. The id leaves the set once skipped.
    """

    def before_process_message(self, broker, message):
        client = get_redis()
        if not client.sismember(cancelled_key(), message.message_id):
            return
        client.srem(cancelled_key(), message.message_id)
        logger.info("Skipping cancelled job %s (%s).", message.message_id, message.actor_name)
        message.options[SKIP_REASON_OPTION] = "cancelled"
        message.options[SKIP_STATUS_OPTION] = JobStatus.CANCELLED.value
        raise SkipMessage()
