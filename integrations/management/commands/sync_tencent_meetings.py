"""Enqueue the import of the Tencent Meeting recordings of the last days."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from integrations.services import add_tencent_meeting_sync_job
from integrations.tencent_meeting import MAX_PERIOD_SECONDS, is_configured


class Command(BaseCommand):
    help = "Enqueue a job that imports the Tencent Meeting recordings of the last days."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=1, help="length of the period, in days (1-31)"
        )
        parser.add_argument(
            "--storage-provider",
            default="local",
            help="storage for the recordings: local, or s3/oss when configured",
        )

    def handle(self, *args, days: int, storage_provider: str, **options) -> None:
        if not 1 <= days <= MAX_PERIOD_SECONDS // 86400:
            raise CommandError(f"--days must be between 1 and 31, got {days}.")
        if not is_configured():
            raise CommandError(
                "Tencent Meeting is not configured: set TENCENT_MEETING_APP_ID, "
                "TENCENT_MEETING_SECRET_ID, TENCENT_MEETING_SECRET_KEY and "
                "TENCENT_MEETING_OPERATOR_ID."
            )
        end = timezone.now()
        start = end - timedelta(days=days)
        job_id = add_tencent_meeting_sync_job(start, end, storage_provider=storage_provider)
        self.stdout.write(
            f"Enqueued Tencent Meeting sync job {job_id} for {start:%Y-%m-%d %H:%M} "
            f"to {end:%Y-%m-%d %H:%M} UTC."
        )
