"""A Dramatiq middleware that profiles every worker and consumer thread with pyinstrument.

``bench.settings_profile`` adds it to the product's middleware list. Each
thread starts a profiler when it boots and saves the session to
``BENCH_PROFILE_DIR/<pid>-<thread name>.json`` when it shuts down, so the
worker must be stopped with SIGTERM for the files to appear.
``bench.harness.profile`` combines and summarises them.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from dramatiq.middleware import Middleware
from pyinstrument import Profiler


class ThreadProfiler(Middleware):
    """Profile each worker and consumer thread from its start to its shutdown."""

    def __init__(self) -> None:
        self.directory = Path(os.environ.get("BENCH_PROFILE_DIR", "var/bench-profile"))
        self._local = threading.local()

    def _start(self) -> None:
        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
        self._local.profiler = profiler

    def _save(self) -> None:
        profiler = getattr(self._local, "profiler", None)
        if profiler is None:
            return
        session = profiler.stop()
        self.directory.mkdir(parents=True, exist_ok=True)
        name = threading.current_thread().name.replace("/", "-")
        session.save(str(self.directory / f"{os.getpid()}-{name}.json"))

    def after_worker_thread_boot(self, broker, thread) -> None:
        self._start()

    def before_worker_thread_shutdown(self, broker, thread) -> None:
        self._save()

    def after_consumer_thread_boot(self, broker, thread) -> None:
        self._start()

    def before_consumer_thread_shutdown(self, broker, thread) -> None:
        self._save()
