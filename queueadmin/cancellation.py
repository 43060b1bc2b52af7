"""Cancel a job that waits in its queue or waits for its due time."""

from __future__ import annotations

import logging

from queueadmin import metrics
from queueadmin.brokerqueues import remove_waiting_message
from queueadmin.controlerrors import JobNotFoundError, JobStateError
from queueadmin.jobevents import emit
from queueadmin.models import JobRecord
from queueadmin.records import flush_job_events
from queueadmin.statuses import JobStatus

logger = logging.getLogger(__name__)

#: Statuses of jobs that have not started their next attempt yet.
CANCELLABLE_STATUSES = (JobStatus.ENQUEUED, JobStatus.DELAYED, JobStatus.RETRYING)


def get_record(job_id: str) -> JobRecord:
    """Return the up-to-date record of ``job_id``.

    Raises:
      JobNotFoundError: no record has that id.
    """
    flush_job_events(wait=True)
    record = JobRecord.objects.filter(job_id=job_id).first()
    if record is None:
        raise JobNotFoundError(job_id)
    return record


def cancel_job(job_id: str) -> JobRecord:
    """Cancel a job whose message waits in its queue or for its due time.

    The message is removed from the broker in the call, so no worker can run
    the job afterwards. A job whose message a worker has already fetched runs
    and cannot be cancelled. Returns the updated record.

    Raises:
      JobNotFoundError: no record has that id.
      JobStateError: the job is running, finished, or fetched by a worker.
    """
    record = get_record(job_id)
    if record.status not in CANCELLABLE_STATUSES:
        raise JobStateError(
            f"Job {job_id} is {record.status}; only enqueued, delayed or retrying jobs "
            "can be cancelled."
        )
    if not remove_waiting_message(record.queue, record.broker_message_id):
        raise JobStateError(
            f"Job {job_id} is no longer waiting in queue {record.queue}: a worker has "
            "fetched it, so it can no longer be cancelled."
        )
    metrics.count_outcome(record.queue, record.actor, "cancelled")
    emit(
        "finished",
        job_id,
        actor=record.actor,
        queue=record.queue,
        status=JobStatus.CANCELLED.value,
        reason="cancelled",
    )
    flush_job_events(wait=True)
    logger.info("Cancelled job %s (%s on %s).", job_id, record.actor, record.queue)
    record.refresh_from_db()
    return record
