"""Job records and API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from queueadmin.statuses import FINISHED_STATUSES, JobStatus  # noqa: F401


class JobRecord(models.Model):
    """The life of one job, keyed by its Dramatiq message id.

    Retries keep the message id, so one row follows a job through all of its
    attempts. Workers do not write rows directly: ``queueadmin.jobevents``
    buffers events and ``queueadmin.records`` folds them into rows in batches.
    A dead-lettered row keeps the payload and message options, so that
    ``queueadmin.deadletters`` can rebuild the message on any broker.
    """

    job_id = models.CharField(max_length=36)
    actor = models.CharField(max_length=128)
    queue = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=JobStatus.choices)
    priority = models.SmallIntegerField(default=0)
    idempotency_key = models.CharField(max_length=255, blank=True)
    correlation_id = models.CharField(max_length=128, blank=True)
    user_id = models.CharField(max_length=128, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    #: Message options needed to rebuild the message (envelope, actor overrides).
    options = models.JSONField(default=dict, blank=True)
    #: The broker's own id of the last copy sent (Redis: ``redis_message_id``).
    broker_message_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    enqueued_at = models.DateTimeField(default=timezone.now)
    #: When a delayed job or a scheduled retry is due.
    eta = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    #: Time of the event that set ``status``; older events do not overwrite it.
    status_changed_at = models.DateTimeField(default=timezone.now)
    wait_ms = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    next_retry_delay_ms = models.PositiveIntegerField(null=True, blank=True)
    progress = models.PositiveSmallIntegerField(null=True, blank=True)
    progress_message = models.CharField(max_length=255, blank=True)
    result_summary = models.CharField(max_length=255, blank=True)
    last_error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)

    class Meta:
        # The ids are looked up only by equality. A constraint and plain
        # indexes, unlike unique=True and db_index=True, give PostgreSQL no
        # second "_like" index, which each insert and update would also write.
        constraints = [
            models.UniqueConstraint(fields=["job_id"], name="job_record_job_id_unique"),
        ]
        indexes = [
            models.Index(fields=["idempotency_key"], name="job_idempotency_key"),
            models.Index(fields=["correlation_id"], name="job_correlation_id"),
            models.Index(fields=["queue", "status", "id"], name="job_queue_status_id"),
            models.Index(fields=["queue", "id"], name="job_queue_id"),
            models.Index(fields=["status", "id"], name="job_status_id"),
            models.Index(fields=["actor", "id"], name="job_actor_id"),
            models.Index(fields=["status", "finished_at"], name="job_status_finished"),
            models.Index(fields=["enqueued_at"], name="job_enqueued_at"),
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.job_id} ({self.status})"


class DeadLetterManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(status=JobStatus.DEAD)


class DeadLetter(JobRecord):
    """A job record whose job was dead-lettered: the admin's dead-letter view."""

    objects = DeadLetterManager()

    class Meta:
        proxy = True
        verbose_name = "dead letter"


class QueueOverview(models.Model):
    """No table: gives the admin index a link to the queue overview page."""

    class Meta:
        managed = False
        verbose_name = "queue overview"
        verbose_name_plural = "queue overview"
        default_permissions = ("view", "change")


class AuditEntry(models.Model):
    """One control action (pause, resume, clean, retry, cancel) and its outcome."""

    class Outcome(models.TextChoices):
        OK = "ok"
        REJECTED = "rejected"
        ERROR = "error"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    username = models.CharField(max_length=150, blank=True)
    #: How the action came in: api-session, api-token, admin or command.
    channel = models.CharField(max_length=16)
    token_name = models.CharField(max_length=100, blank=True)
    action = models.CharField(max_length=32)
    target = models.CharField(max_length=255, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    detail = models.TextField(blank=True)

    class Meta:
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        ordering = ("-id",)

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.target}"


class TokenScope(models.TextChoices):
    READ = "read", "Read only"
    CONTROL = "control", "Read and control"


def hash_token(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> ApiTokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A bearer token for the REST API, stored as a SHA-256 hash.

    The raw token is shown once, when it is created.
    """

    PREFIX_LENGTH = 8

    name = models.CharField(max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    scope = models.CharField(max_length=16, choices=TokenScope.choices, default=TokenScope.READ)
    key_prefix = models.CharField(max_length=PREFIX_LENGTH, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    def set_new_key(self) -> str:
        """Generate a new secret, store its hash and return the raw token."""
        raw_token = secrets.token_urlsafe(32)
        self.key_prefix = raw_token[: self.PREFIX_LENGTH]
        self.key_hash = hash_token(raw_token)
        return raw_token

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class JobCompletion(models.Model):
    """The completion marker of a job whose side effect lives in the database.

    ``complete_once`` writes it in the transaction of the effect, so the
    effect and the marker commit together or not at all.
    """

    actor = models.CharField(max_length=128)
    idempotency_key = models.CharField(max_length=255)
    job_id = models.CharField(max_length=36)
    completed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["actor", "idempotency_key"], name="job_completion_unique_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.idempotency_key} (job {self.job_id})"


class OutboxMessage(models.Model):
    """A job that could not reach the broker, waiting for ``relay_outbox``.

    Rows are sent in ``id`` order and deleted once Redis has the message.
    """

    job_id = models.CharField(max_length=36, unique=True)
    actor = models.CharField(max_length=128)
    queue = models.CharField(max_length=64)
    idempotency_key = models.CharField(max_length=255, blank=True)
    #: The encoded Dramatiq message, as ``Message.encode()`` returns it.
    message = models.BinaryField()
    #: Milliseconds to delay the job by once it is sent, counted from the send.
    delay_ms = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.actor} {self.job_id} (outbox)"


# Cron schedules live in their own module; Django finds models through this one.
from queueadmin.schedule_models import MisfirePolicy, Schedule  # noqa: E402,F401
