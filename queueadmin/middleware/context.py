"""Set the running job's context for log lines and for jobs it enqueues."""

from __future__ import annotations

from dramatiq.middleware import Middleware

from queueadmin.context import JobContext, current_job, new_correlation_id
from queueadmin.envelope import envelope_field


class JobContextMiddleware(Middleware):
    """Bind the job id, actor, queue, attempt and correlation id to the thread."""

    def before_process_message(self, broker, message):
        current_job.set(
            JobContext(
                job_id=message.message_id,
                actor=message.actor_name,
                queue=message.queue_name,
                attempt=message.options.get("retries", 0) + 1,
                correlation_id=envelope_field(message, "correlation_id") or new_correlation_id(),
                user_id=envelope_field(message, "user_id"),
            )
        )

    def after_process_message(self, broker, message, *, result=None, exception=None):
        current_job.set(None)

    def after_skip_message(self, broker, message):
        current_job.set(None)
