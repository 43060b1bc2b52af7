"""Run the whole product once: workers, sample transcripts, analyses, emails."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from meetings.models import MeetingSource, MeetingStatus
from meetings.monitoring import WaitTimeout, wait_for_meetings
from meetings.reporting import format_meeting
from meetings.services import submit_transcript
from queueadmin.models import FINISHED_STATUSES, JobRecord

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data" / "qmsum"
DEMO_ATTENDEES = ["alice@example.com", "bob@example.com"]


class Command(BaseCommand):
    help = (
        "Migrate, start the workers, import the QMSum transcripts shipped in "
        "meetings/sample_data/qmsum/, wait for their analyses and emails, print "
        "the results and stop everything the demo started."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--timeout",
            type=float,
            default=300.0,
            help="How long to wait for the meetings, in seconds (default 300).",
        )

    def handle(self, *args, timeout, **options):
        if options["verbosity"] < 2:
            # Keep the terminal for the progress display and the results.
            logging.getLogger().setLevel(logging.WARNING)
        call_command("migrate", verbosity=0, interactive=False)
        self.run_started_at = timezone.now()
        self.stdout.write(f"Broker: {settings.REDIS_URL} (namespace {settings.QUEUE_REDIS_NAMESPACE})")
        started = time.time()
        workers = self._start_workers()
        try:
            meetings = self._run(workers, timeout)
        finally:
            self._stop_workers(workers)
            self._stop_embedded_redis()
        self._report(meetings, time.time() - started)

    def _run(self, workers: subprocess.Popen, timeout: float):
        files = sorted(SAMPLE_DIR.glob("*.json"))
        ids = []
        for path in files:
            submission = submit_transcript(
                content=path.read_bytes(),
                filename=path.name,
                title=f"QMSum {path.stem}",
                attendees=DEMO_ATTENDEES,
                source=MeetingSource.COMMAND,
            )
            ids.append(submission.meeting.pk)
            self.stdout.write(f"Submitted {path.name} as meeting {submission.meeting.pk}.")

        deadline = time.monotonic() + timeout

        def progress(done: int, total: int) -> None:
            if workers.poll() is not None:
                raise CommandError(f"The workers exited with code {workers.returncode}.")
            bar = "#" * done + "-" * (total - done)
            self.stdout.write(f"[{bar}] {done}/{total} meetings done", ending="\n")

        try:
            meetings = wait_for_meetings(ids, timeout_seconds=timeout, on_progress=progress)
        except WaitTimeout as exc:
            raise CommandError(str(exc)) from None
        self._wait_for_jobs(max(1.0, deadline - time.monotonic()))
        return meetings

    def _start_workers(self) -> subprocess.Popen:
        manage_py = Path(settings.BASE_DIR) / "manage.py"
        command = [sys.executable, str(manage_py), "runworkers"]
        log_path = Path(settings.VAR_DIR) / "log" / "demo-workers.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.stdout.write(f"Starting workers ({' '.join(command[1:])}); their log: {log_path}")
        with open(log_path, "ab") as log_file:
            return subprocess.Popen(
                command, cwd=settings.BASE_DIR, stdout=log_file, stderr=subprocess.STDOUT
            )

    def _wait_for_jobs(self, timeout: float) -> None:
        """Wait until the summary emails' jobs have finished too."""
        deadline = time.monotonic() + timeout
        this_run = JobRecord.objects.filter(enqueued_at__gte=self.run_started_at)
        while this_run.exclude(status__in=FINISHED_STATUSES).exists():
            if time.monotonic() >= deadline:
                raise CommandError("Email jobs were still running when the demo timed out.")
            time.sleep(0.25)

    def _stop_workers(self, workers: subprocess.Popen) -> None:
        if workers.poll() is None:
            workers.send_signal(signal.SIGTERM)
            try:
                workers.wait(timeout=90)
            except subprocess.TimeoutExpired:
                workers.kill()
                workers.wait()
        self.stdout.write(f"Workers stopped (exit code {workers.returncode}).")

    def _stop_embedded_redis(self) -> None:
        server = settings.EMBEDDED_REDIS
        if server is not None and server.started_here:
            server.stop()
            self.stdout.write("Embedded Redis stopped (the demo had started it).")

    def _report(self, meetings, elapsed: float) -> None:
        self.stdout.write("")
        for meeting in meetings:
            self.stdout.write(format_meeting(meeting))
            self.stdout.write("")
        self._report_mail()
        failed = [meeting.pk for meeting in meetings if meeting.status == MeetingStatus.FAILED]
        self.stdout.write(f"Done in {elapsed:.1f} s.")
        if failed:
            raise CommandError(f"Meetings {failed} failed.")

    def _report_mail(self) -> None:
        sent = JobRecord.objects.filter(
            actor="send_email", status="succeeded", enqueued_at__gte=self.run_started_at
        ).count()
        if settings.EMAIL_BACKEND.endswith("EmlEmailBackend"):
            where = f"as .eml files in {settings.EMAIL_FILE_PATH}"
        else:
            where = f"through {settings.EMAIL_BACKEND}"
        self.stdout.write(f"Summary emails sent: {sent}, {where}.")
