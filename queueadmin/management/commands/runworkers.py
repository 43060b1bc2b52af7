"""Run the workers of every queue, each with its configured number of threads."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from queueadmin.queues import QUEUES, UnknownQueueError, get_concurrency
from queueadmin.supervisor import RestartPolicy, Supervisor, WorkerGroup, build_worker_command

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Start one 'rundramatiq' per queue with the threads set by "
        "QUEUE_CONCURRENCY_<QUEUE>, and restart any that exits. Stops on SIGTERM "
        "or SIGINT, and exits with code 1 when a queue's workers exit more than "
        "--max-restarts times within --restart-window seconds. Unless "
        "QUEUE_RECORD_WRITER=worker, it also runs write_job_records, which writes "
        "the job records in place of the workers."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--queues",
            nargs="+",
            default=list(QUEUES),
            help=f"Queues to serve (default: all: {' '.join(QUEUES)}).",
        )
        parser.add_argument(
            "--processes", type=int, default=1, help="Worker processes per queue (default 1)."
        )
        parser.add_argument(
            "--max-restarts", type=int, default=5, help="Restarts allowed per window (default 5)."
        )
        parser.add_argument(
            "--restart-window",
            type=float,
            default=60.0,
            help="Window for --max-restarts, in seconds (default 60).",
        )

    def handle(self, *args, queues, processes, max_restarts, restart_window, **options):
        manage_py = Path(settings.BASE_DIR) / "manage.py"
        # Running jobs get the grace period to finish on SIGTERM; the rest go
        # back to their queues (queueadmin.middleware.shutdown).
        shutdown_arguments = [
            "--worker-shutdown-timeout",
            str(settings.QUEUE_SHUTDOWN_GRACE_SECONDS * 1000),
        ]
        groups = []
        for queue in queues:
            try:
                threads = get_concurrency(queue)
            except UnknownQueueError as exc:
                raise CommandError(str(exc)) from None
            command = build_worker_command(
                manage_py, queue, threads, processes=processes, extra=shutdown_arguments
            )
            groups.append(WorkerGroup(name=queue, command=command))

        if settings.QUEUE_RECORD_WRITER != "worker":
            # The workers inherit the setting and leave the records to the
            # writer process, so that work does not take their GIL.
            os.environ["QUEUE_RECORD_WRITER"] = "process"
            command = [sys.executable, str(manage_py), "write_job_records"]
            groups.append(WorkerGroup(name="job records", command=command))

        policy = RestartPolicy(max_restarts=max_restarts, window_seconds=restart_window)
        code = Supervisor(groups, policy, cwd=manage_py.parent).run()
        if code:
            raise CommandError("Workers kept exiting; see the log above.", returncode=code)
