"""A plain Dramatiq app whose per-job path is known, for profiling under py-spy in ``test_profile``.

Each job spends ``BUSY_SECONDS`` of thread CPU time in a middleware hook and
``BUSY_SECONDS`` in the actor, both spinning with the GIL held. The broker is
Dramatiq's ``RedisBroker`` at ``PROFILED_APP_REDIS_URL`` with the key
namespace ``PROFILED_APP_NAMESPACE``.

Worker command: ``dramatiq tests.bench.profiled_app --processes 1 --threads 2``.
Send jobs: ``python -m tests.bench.profiled_app JOBS``.
"""

from __future__ import annotations

import os
import sys
import time

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Middleware

QUEUE = "profiled"
BUSY_SECONDS = 0.002


def spin(seconds: float) -> None:
    """Busy-loop until this thread has used ``seconds`` of CPU time.

    Thread CPU time, unlike wall time, does not advance while another
    thread has the GIL, so two threads spinning at once each get their full time.
    """
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


class BusyHook(Middleware):
    """Spin before each job, as a costly middleware hook would."""

    def before_process_message(self, broker, message) -> None:
        spin(BUSY_SECONDS)


broker = RedisBroker(url=os.environ["PROFILED_APP_REDIS_URL"], namespace=os.environ["PROFILED_APP_NAMESPACE"])
broker.add_middleware(BusyHook())
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name=QUEUE)
def busy_job(index: int) -> None:
    spin(BUSY_SECONDS)


if __name__ == "__main__":
    for index in range(int(sys.argv[1])):
        busy_job.send(index)
