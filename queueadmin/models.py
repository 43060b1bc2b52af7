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
    attempts.
    """

    job_id = models.CharField(max_length=36, unique=True)
    actor = models.CharField(max_length=128)
    queue = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=JobStatus.choices)
    priority = models.SmallIntegerField(default=0)
    idempotency_key = models.CharField(max_length=255, blank=True, db_index=True)
    correlation_id = models.CharField(max_length=128, blank=True, db_index=True)
    user_id = models.CharField(max_length=128, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    enqueued_at = models.DateTimeField(default=timezone.now)
    eta = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    progress = models.PositiveSmallIntegerField(null=True, blank=True)
    progress_message = models.CharField(max_length=255, blank=True)
    result_summary = models.CharField(max_length=255, blank=True)
    last_error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["queue", "status", "id"], name="job_queue_status_id"),
            models.Index(fields=["actor", "id"], name="job_actor_id"),
            models.Index(fields=["status", "finished_at"], name="job_status_finished"),
            models.Index(fields=["enqueued_at"], name="job_enqueued_at"),
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.job_id} ({self.status})"


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


# Cron schedules live in their own module; Django finds models through this one.
from queueadmin.schedule_models import MisfirePolicy, Schedule  # noqa: E402,F401
