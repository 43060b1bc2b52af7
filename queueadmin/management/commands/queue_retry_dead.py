"""Send dead letters again with fresh attempts."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from queueadmin import deadletters
from queueadmin.audit import audited
from queueadmin.controlerrors import JobNotFoundError, JobStateError
from queueadmin.management.commands._control import checked_queue, command_operator


class Command(BaseCommand):
    help = (
        "Send dead letters again with their job ids and fresh attempts: one job (--job), "
        "or all of them, optionally only those of --queue and/or --actor."
    )

    def add_arguments(self, parser):
        parser.add_argument("--job", metavar="JOB_ID", help="Retry only this job id.")
        parser.add_argument("--queue", help="Retry only dead letters of this queue.")
        parser.add_argument("--actor", help="Retry only dead letters of this actor.")

    def handle(self, *args, **options):
        operator = command_operator()
        if options["job"]:
            try:
                with audited(operator, "retry", options["job"]):
                    deadletters.retry_dead_letter(options["job"])
            except (JobNotFoundError, JobStateError) as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"Sent job {options['job']} again.")
            return
        queue = checked_queue(options["queue"]) if options["queue"] else None
        parameters = {"queue": queue, "actor": options["actor"]}
        with audited(operator, "retry-dead-letters", **parameters) as note:
            job_ids = deadletters.retry_dead_letters(queue, options["actor"])
            note["detail"] = f"{len(job_ids)} jobs sent again"
        self.stdout.write(f"Sent {len(job_ids)} dead letters again.")
