"""Set the running job's context for log lines and for jobs it enqueues."""

from __future__ import annotations

from dramatiq.middleware import Middleware

from queueadmin.context import JobContext, current_job, new_correlation_id
from queueadmin.envelope import MAX_CORRELATION_ID_LENGTH, MAX_USER_ID_LENGTH, envelope_field


def _text_field(message, name: str, max_length: int) -> str | None:
    # The envelope's field when it meets JobEnvelope's rules, else None: jobs
    # that this job enqueues would fail validation with an invalid value.
    value = envelope_field(message, name)
    if isinstance(value, str) and len(value) <= max_length:
        return value
    return None


class JobContextMiddleware(Middleware):
    """Bind the job id, actor, queue, attempt and correlation id to the thread."""

    def before_process_message(self, broker, message):
        current_job.set(
            JobContext(
                job_id=message.message_id,
                actor=message.actor_name,
                queue=message.queue_name,
                attempt=message.options.get("retries", 0) + 1,
                correlation_id=_text_field(message, "correlation_id", MAX_CORRELATION_ID_LENGTH)
                or new_correlation_id(),
                user_id=_text_field(message, "user_id", MAX_USER_ID_LENGTH),
            )
        )

    def after_process_message(self, broker, message, *, result=None, exception=None):
        current_job.set(None)

    def after_skip_message(self, broker, message):
        current_job.set(None)
