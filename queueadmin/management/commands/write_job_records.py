"""Write job events into job records in a process of its own."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand

from queueadmin.flusher import RecordFlusher
from queueadmin.heap import freeze_startup_objects


class Command(BaseCommand):
    help = (
        "Fold the job events that workers push to Redis into job records every "
        "0.5 seconds, until SIGTERM or SIGINT, then write what is left. "
        "runworkers starts it unless QUEUE_RECORD_WRITER=worker. Beside workers "
        "started otherwise, set QUEUE_RECORD_WRITER=process for them, so that "
        "they leave the records to this command."
    )

    def handle(self, *args, **options):
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
        signal.signal(signal.SIGINT, lambda signum, frame: stopping.set())
        freeze_startup_objects("record writer")
        flusher = RecordFlusher()
        flusher.start()
        self.stdout.write("Writing job records; stop with SIGTERM or Ctrl-C.")
        while not stopping.wait(0.5):
            if not flusher.is_alive():
                raise SystemExit(1)
        flusher.stop()
        self.stdout.write("Stopped writing job records.")
