"""The state of each meeting's sync to an external service."""

from __future__ import annotations

from django.db import models

from meetings.models import Meeting


class SyncTarget(models.TextChoices):
    LARK_BITABLE = "lark_bitable", "Lark Bitable"


class SyncStatus(models.TextChoices):
    PENDING = "pending"
    SYNCED = "synced"
    SKIPPED = "skipped"
    FAILED = "failed"


class ExternalSync(models.Model):
    """One meeting's row in an external service, such as its Lark Bitable record.

    ``external_id`` is the service's id of the row (a Bitable ``record_id``), so
    a later sync updates that row instead of adding another. ``detail`` is
    the reason the sync was skipped or failed.
    """

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="external_syncs")
    target = models.CharField(max_length=32, choices=SyncTarget.choices)
    status = models.CharField(max_length=16, choices=SyncStatus.choices)
    external_id = models.CharField(max_length=128, blank=True)
    detail = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["meeting", "target"], name="external_sync_target"),
        ]

    def __str__(self) -> str:
        return f"{self.target} of meeting {self.meeting_id}: {self.status}"
