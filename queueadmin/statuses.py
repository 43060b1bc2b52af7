"""Job statuses, importable before the app registry is ready."""

from django.db import models


class JobStatus(models.TextChoices):
    ENQUEUED = "enqueued"
    DELAYED = "delayed"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"
    EXPIRED = "expired"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


#: Statuses after which a job does not run again on its own.
FINISHED_STATUSES = (
    JobStatus.SUCCEEDED,
    JobStatus.FAILED,
    JobStatus.DEAD,
    JobStatus.EXPIRED,
    JobStatus.SKIPPED,
    JobStatus.CANCELLED,
)
