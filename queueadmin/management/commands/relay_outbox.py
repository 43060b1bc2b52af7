"""Send the jobs waiting in the outbox to Redis."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from queueadmin.outbox import relay


class Command(BaseCommand):
    help = (
        "Send jobs stored in the outbox while Redis was unavailable, oldest first, "
        "and delete each once sent. Stops at the first broker error; exits 0 either way "
        "and prints how many jobs remain."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit", type=int, default=None, help="Send at most this many jobs (default: all)."
        )

    def handle(self, *args, limit, **options):
        result = relay(limit=limit)
        self.stdout.write(
            f"Sent {result.sent} job(s), dropped {result.duplicates} duplicate(s); "
            f"{result.remaining} remaining in the outbox."
        )
