"""Errors of the control actions (cancel, retry), mapped to 404 and 409 by the API."""

from __future__ import annotations


class JobNotFoundError(LookupError):
    """Raised when no job record has the given job id."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"Job {job_id!r} not found.")
        self.job_id = job_id


class JobStateError(ValueError):
    """Raised when a job's status does not allow the requested action."""
