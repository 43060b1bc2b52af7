"""Delete finished job records and dead letters older than an age."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from queueadmin.audit import audited
from queueadmin.cleaning import clean
from queueadmin.management.commands._control import command_operator
from queueadmin.records import flush_job_events


class Command(BaseCommand):
    help = (
        "Delete job records that finished more than --older-than seconds ago "
        "(default: QUEUE_JOB_RECORD_RETENTION_SECONDS), and dead letters that died more "
        "than --dead-letters-older-than seconds ago (default: "
        "QUEUE_DEAD_LETTER_RETENTION_SECONDS)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than", type=int, metavar="SECONDS",
            help="Age in seconds of the finished records to delete.",
        )
        parser.add_argument(
            "--dead-letters-older-than", type=int, metavar="SECONDS",
            help="Age in seconds of the dead letters to delete.",
        )
        parser.add_argument(
            "--keep-dead-letters", action="store_true", help="Delete no dead letter."
        )

    def handle(self, *args, **options):
        older_than = options["older_than"]
        if older_than is None:
            older_than = settings.QUEUE_JOB_RECORD_RETENTION_SECONDS
        dead_age = options["dead_letters_older_than"]
        if dead_age is None:
            dead_age = settings.QUEUE_DEAD_LETTER_RETENTION_SECONDS
        if older_than < 0 or dead_age < 0:
            raise CommandError("Ages must be 0 or more seconds.")
        keep_dead = options["keep_dead_letters"]
        parameters = {"older_than_seconds": older_than, "dead_letters_older_than_seconds": dead_age}
        with audited(command_operator(), "clean", **parameters) as note:
            flush_job_events(wait=True)
            result = clean(
                timedelta(seconds=older_than),
                dead_letters_older_than=None if keep_dead else timedelta(seconds=dead_age),
            )
            note["detail"] = f"{result.job_records} records, {result.dead_letters} dead letters"
        self.stdout.write(
            f"Deleted {result.job_records} job records and {result.dead_letters} dead letters."
        )
