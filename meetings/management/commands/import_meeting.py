"""Import a transcript file as a meeting and start its processing."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from meetings.models import MeetingSource, MeetingStatus
from meetings.monitoring import WaitTimeout, wait_for_meetings
from meetings.reporting import format_meeting
from meetings.services import SubmissionError, submit_transcript


class Command(BaseCommand):
    help = (
        "Import a transcript (QMSum JSON, WebVTT, SRT or 'Speaker: text' lines) and "
        "enqueue its processing, analysis and summary emails."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of the transcript file.")
        parser.add_argument("--title", default="", help="Meeting title (default: file name).")
        parser.add_argument(
            "--attendee",
            action="append",
            default=[],
            metavar="EMAIL",
            help="Attendee email address that gets the summary; repeat for several.",
        )
        parser.add_argument(
            "--wait", action="store_true", help="Wait for the workflow and print the analysis."
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=300.0,
            help="With --wait, how long to wait, in seconds (default 300).",
        )

    def handle(self, *args, file, title, attendee, wait, timeout, **options):
        content = self._read(Path(file))
        try:
            submission = submit_transcript(
                content=content,
                filename=Path(file).name,
                title=title,
                attendees=attendee,
                source=MeetingSource.COMMAND,
            )
        except SubmissionError as exc:
            raise CommandError(f"{file}: {exc}") from None

        meeting = submission.meeting
        self.stdout.write(f"Meeting {meeting.pk} queued as job {submission.job_id}.")
        if not wait:
            return

        try:
            [meeting] = wait_for_meetings([meeting.pk], timeout_seconds=timeout)
        except WaitTimeout as exc:
            raise CommandError(f"{exc} Are the workers running ('manage.py runworkers')?")
        self.stdout.write(format_meeting(meeting))
        if meeting.status == MeetingStatus.FAILED:
            raise CommandError(f"Meeting {meeting.pk} failed: {meeting.failure_reason}")

    @staticmethod
    def _read(path: Path) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise CommandError(f"File not found: {path}") from None
        except IsADirectoryError:
            raise CommandError(f"{path} is a directory, not a transcript file.") from None
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
