"""Resume one queue or all queues."""

from __future__ import annotations

from queueadmin import pausing
from queueadmin.management.commands.queue_pause import Command as PauseCommand


class Command(PauseCommand):
    help = (
        "Resume paused queues: workers take jobs from them again, oldest first. "
        "Resuming a queue that is not paused does nothing."
    )
    action = "resume"

    def change_all(self) -> list[str]:
        return pausing.resume_all()

    def change_one(self, name: str) -> bool:
        return pausing.resume_queue(name)
