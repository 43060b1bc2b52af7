"""Meetings, their transcripts and their analyses."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import models


def validate_time_zone(value: str) -> None:
    """Raise ``ValidationError`` unless ``value`` is an IANA time zone name."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"Unknown time zone {value!r}; use an IANA name such as 'Europe/Berlin'."
        ) from None


class MeetingStatus(models.TextChoices):
    RECEIVED = "received"
    PROCESSING = "processing"
    ANALYSED = "analysed"
    NOTIFIED = "notified"
    FAILED = "failed"


class MeetingSource(models.TextChoices):
    API = "api"
    COMMAND = "command"
    TENCENT = "tencent"


class Meeting(models.Model):
    """A meeting and the state of its processing workflow.

    The status moves received → processing → analysed → notified, or to
    failed with ``failure_reason``.
    """

    title = models.CharField(max_length=255)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    organizer = models.EmailField(blank=True)
    attendee_emails = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=16, choices=MeetingStatus.choices, default=MeetingStatus.RECEIVED
    )
    failure_reason = models.TextField(blank=True)
    source = models.CharField(
        max_length=16, choices=MeetingSource.choices, default=MeetingSource.API
    )
    transcript_file = models.FileField(upload_to="transcripts/%Y/%m/", blank=True)
    transcript_format = models.CharField(max_length=16, blank=True)
    # The meeting's id at its source, such as the Tencent Meeting meeting_id.
    external_id = models.CharField(max_length=64, blank=True)
    # Storage alias and name of the stored recording, such as "recordings_local:7/a.mp4".
    recording_location = models.CharField(max_length=512, blank=True)
    recording_sha256 = models.CharField(max_length=64, blank=True)
    recording_size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    # Reminders: one email per attendee at starts_at minus reminder_minutes.
    reminder_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Minutes before the start; empty uses the default."
    )
    join_url = models.URLField(blank=True)
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="IANA time zone in which reminders show the start.",
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    reminder_job_id = models.CharField(max_length=36, blank=True, editable=False)
    reminder_starts_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="The start time the reminder was set for."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~models.Q(external_id=""),
                name="meeting_source_external_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"


class Utterance(models.Model):
    """One speaker turn of a meeting's transcript, in order."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="utterances")
    position = models.PositiveIntegerField()
    speaker = models.CharField(max_length=255)
    text = models.TextField()
    start_seconds = models.FloatField(null=True, blank=True)
    end_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ("meeting", "position")
        constraints = [
            models.UniqueConstraint(fields=["meeting", "position"], name="utterance_position"),
        ]

    def __str__(self) -> str:
        return f"{self.speaker}: {self.text[:40]}"


class Analysis(models.Model):
    """The analysis of a meeting's transcript, as ``MeetingAnalysis.as_dict()``."""

    meeting = models.OneToOneField(Meeting, on_delete=models.CASCADE, related_name="analysis")
    data = models.JSONField()
    word_count = models.PositiveIntegerField()
    sentiment = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "analyses"

    def __str__(self) -> str:
        return f"Analysis of meeting {self.meeting_id}"
