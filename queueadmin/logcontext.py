"""Logging filter that adds the running job's ids to every record."""

from __future__ import annotations

import logging

from queueadmin.context import current_correlation_id, current_job


class JobContextFilter(logging.Filter):
    """Set ``job_id``, ``actor``, ``queue``, ``attempt`` and ``correlation_id``.

    Outside a job the fields are "-", except the correlation id of a request.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        job = current_job.get()
        if job is None:
            record.job_id = record.actor = record.queue = record.attempt = "-"
            record.correlation_id = current_correlation_id.get() or "-"
            return True
        record.job_id = job.job_id
        record.actor = job.actor
        record.queue = job.queue
        record.attempt = job.attempt
        record.correlation_id = job.correlation_id
        return True
