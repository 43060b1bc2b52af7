"""Freeze a worker process's startup objects once the worker has booted."""

from __future__ import annotations

import weakref

from dramatiq.middleware import Middleware

from queueadmin.heap import freeze_startup_objects, unfreeze_startup_objects


class FreezeStartupObjects(Middleware):
    """After the worker's boot, exclude the objects alive then from garbage collection.

    See ``queueadmin.heap``. The freeze runs after every other middleware's
    boot hook (``after_worker_boot`` hooks run in reverse list order, and this
    middleware comes early in the list), so the objects those hooks create are
    frozen too. Shutdown unfreezes them, for workers run inside a process that
    goes on, such as a test's. Only a worker that froze unfreezes, once: a
    worker whose boot failed, or that is stopped twice, leaves the freezes of
    other workers in the process alone.
    """

    def __init__(self) -> None:
        self._frozen_for: weakref.WeakSet = weakref.WeakSet()

    def after_worker_boot(self, broker, worker):
        freeze_startup_objects("worker")
        self._frozen_for.add(worker)

    def after_worker_shutdown(self, broker, worker):
        try:
            self._frozen_for.remove(worker)
        except KeyError:
            return
        unfreeze_startup_objects()
