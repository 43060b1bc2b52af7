"""Freeze a worker process's startup objects once the worker has booted."""

from __future__ import annotations

from dramatiq.middleware import Middleware

from queueadmin.heap import freeze_startup_objects, unfreeze_startup_objects


class FreezeStartupObjects(Middleware):
    """After the worker's boot, exclude the objects alive then from garbage collection.

    See ``queueadmin.heap``. The freeze runs after every other middleware's
    boot hook (``after_worker_boot`` hooks run in reverse list order, and this
    middleware comes early in the list), so the objects those hooks create are
    frozen too. Shutdown unfreezes them, for workers run inside a process that
    goes on, such as a test's.
    """

    def after_worker_boot(self, broker, worker):
        freeze_startup_objects("worker")

    def after_worker_shutdown(self, broker, worker):
        unfreeze_startup_objects()
