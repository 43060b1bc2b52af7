"""Limit how many messages a worker process fetches ahead of its threads."""

from __future__ import annotations

from django.conf import settings
from dramatiq.middleware import Middleware


class PrefetchPerThread(Middleware):
    """Set each queue consumer's prefetch to ``QUEUE_PREFETCH_PER_THREAD`` per worker thread.

    Dramatiq fetches up to twice the thread count per queue by default, and
    fetched messages wait in that process's memory even when its threads are
    all busy with long jobs while another process has idle threads. With one
    message per thread, every message a process has fetched has a thread to run it
    when the process serves one queue, as ``runworkers`` starts them. A process
    that serves several queues holds up to one message per thread per queue.
    """

    def before_worker_boot(self, broker, worker):
        # Consumers are created after this hook, with worker.queue_prefetch.
        worker.queue_prefetch = max(1, worker.worker_threads * settings.QUEUE_PREFETCH_PER_THREAD)
