"""Measure how late delayed jobs start when 1,000 jobs delayed by a day wait in the same queue.

Run from the repository root::

    REDIS_URL=redis://127.0.0.1:6379/0 python bench/delayed_latency.py [--probes 5]

The script sends 1,000 jobs delayed by a day, then probe jobs delayed by 5 s
(plus 0.5 s per probe), and runs a Dramatiq worker with two threads in this
process. Each probe stores its start time in Redis, and the script prints
start time minus due time. The Redis keys live under a namespace of their
own, which is deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["QUEUE_REDIS_NAMESPACE"] = f"bench-{uuid.uuid4().hex[:8]}"
os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="bench-delay-"))

import django  # noqa: E402

django.setup()

import dramatiq  # noqa: E402
from django.core.management import call_command  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from queueadmin.actors import job_actor  # noqa: E402

QUEUE = "bench_delay"
DAY_MS = 86_400_000


class ProbeJob(BaseModel):
    label: str


def _started_key() -> str:
    return f"{dramatiq.get_broker().namespace}:bench:started"


@job_actor(queue=QUEUE, payload=ProbeJob)
def latency_probe(job: ProbeJob) -> None:
    """Store this job's start time (Unix seconds) under its label."""
    dramatiq.get_broker().client.hset(_started_key(), job.label, repr(time.time()))


def _send_probes(count: int) -> dict[str, float]:
    due_times = {}
    for index in range(count):
        delay_ms = 5000 + 500 * index
        label = f"probe-{index}"
        due_times[label] = time.time() + delay_ms / 1000
        latency_probe.enqueue(label=label, delay=delay_ms)
    return due_times


def _wait_for_starts(labels: list[str], timeout: float) -> dict[str, float]:
    client = dramatiq.get_broker().client
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        started = {key.decode(): float(value) for key, value in client.hgetall(_started_key()).items()}
        if all(label in started for label in labels):
            return started
        time.sleep(0.05)
    raise TimeoutError(f"Not all probes started within {timeout} s.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=5, help="probe jobs (default 5)")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    broker = dramatiq.get_broker()
    worker = dramatiq.Worker(broker, queues={QUEUE}, worker_threads=2)
    try:
        latency_probe.enqueue_many([{"label": f"later-{i}"} for i in range(1000)], delay=DAY_MS)
        due_times = _send_probes(args.probes)
        worker.start()
        started = _wait_for_starts(list(due_times), timeout=60 + args.probes)
        depths = broker.queue_depths(QUEUE)
    finally:
        worker.stop()
        keys = list(broker.client.scan_iter(match=f"{broker.namespace}:*", count=1000))
        if keys:
            broker.client.delete(*keys)

    lags = [started[label] - due for label, due in due_times.items()]
    print(f"jobs delayed by a day still waiting: {depths['delayed']}")
    for label, lag in zip(due_times, lags):
        print(f"{label}: started {lag * 1000:7.0f} ms after its due time")
    print(f"max lag: {max(lags) * 1000:.0f} ms, min lag: {min(lags) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
