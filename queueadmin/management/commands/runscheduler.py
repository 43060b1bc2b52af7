"""Run the cron schedules: ``manage.py runscheduler``.

Any number of these processes may run at once; each tick is enqueued once.
"""

from __future__ import annotations

import logging
import signal
from datetime import timezone

from apscheduler.schedulers.blocking import BlockingScheduler
from django.conf import settings
from django.core.management.base import BaseCommand

from queueadmin.scheduler import FireTimeExecutor, ScheduleRunner

logger = logging.getLogger(__name__)


def _stop(signum, frame):
    raise SystemExit(0)


class Command(BaseCommand):
    help = "Enqueue jobs on their cron schedules (from code and the Schedule table)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--reload-seconds",
            type=int,
            default=None,
            help="Seconds between reloads of the Schedule table "
            "(default: SCHEDULER_RELOAD_SECONDS).",
        )

    def handle(self, *args, **options):
        reload_seconds = options["reload_seconds"] or settings.SCHEDULER_RELOAD_SECONDS
        scheduler = BlockingScheduler(
            timezone=timezone.utc, executors={"default": FireTimeExecutor(max_workers=4)}
        )
        signal.signal(signal.SIGTERM, _stop)
        runner = ScheduleRunner(scheduler, reload_seconds)
        try:
            runner.start()
        except (KeyboardInterrupt, SystemExit):
            logger.info("Scheduler stopping.")
        finally:
            if scheduler.running:
                scheduler.shutdown(wait=False)
            logger.info("Scheduler stopped.")
