"""Pause one queue or all queues."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from queueadmin import pausing
from queueadmin.audit import audited
from queueadmin.management.commands._control import checked_queue, command_operator


class Command(BaseCommand):
    help = (
        "Pause queues: workers take no new job from a paused queue until it is resumed. "
        "Waiting jobs stay in order. Pausing a paused queue does nothing."
    )
    action = "pause"

    def add_arguments(self, parser):
        parser.add_argument("queues", nargs="*", help="Queue names, for example meetings.")
        parser.add_argument("--all", action="store_true", help="Act on every queue.")

    def handle(self, *args, **options):
        if options["all"] == bool(options["queues"]):
            raise CommandError("Name one or more queues, or pass --all.")
        names = [checked_queue(name) for name in options["queues"]]
        operator = command_operator()
        if options["all"]:
            with audited(operator, self.action, "all queues"):
                changed = self.change_all()
            self.stdout.write(f"{self.action}: all queues (changed: {', '.join(changed) or 'none'})")
            return
        for name in names:
            with audited(operator, self.action, name):
                changed = self.change_one(name)
            self.stdout.write(f"{self.action}: {name}{'' if changed else ' (no change)'}")

    def change_all(self) -> list[str]:
        return pausing.pause_all()

    def change_one(self, name: str) -> bool:
        return pausing.pause_queue(name)
