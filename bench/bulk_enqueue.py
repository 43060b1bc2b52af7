"""Compare sending 10,000 jobs with ``enqueue_many`` against a loop of ``enqueue``.

Run from the repository root::

    REDIS_URL=redis://127.0.0.1:6379/0 python bench/bulk_enqueue.py [--jobs 10000] [--repeat 3]

Without ``DATABASE_URL`` the job records go to a fresh SQLite file in a
temporary folder. With it, they go to that database, after ``migrate``. The Redis keys live under a namespace of their own, which is
deleted at the end. No worker runs, so the jobs only wait in Redis. Each
mode runs ``--repeat`` times and the fastest run counts, as ``timeit`` does,
because other processes on the machine only ever add time.
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
os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="bench-bulk-"))

import django  # noqa: E402

django.setup()

import dramatiq  # noqa: E402
from django.core.management import call_command  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from queueadmin.actors import job_actor  # noqa: E402
from queueadmin.models import JobRecord  # noqa: E402


class BenchJob(BaseModel):
    index: int
    label: str


@job_actor(queue="bench", payload=BenchJob)
def bench_job(job: BenchJob) -> None:
    """Do nothing; only sent, never run."""


def _time_loop(count: int) -> float:
    started = time.perf_counter()
    for index in range(count):
        bench_job.enqueue(index=index, label="loop")
    return time.perf_counter() - started


def _time_bulk(count: int) -> float:
    payloads = [{"index": index, "label": "bulk"} for index in range(count)]
    started = time.perf_counter()
    bench_job.enqueue_many(payloads)
    return time.perf_counter() - started


def _delete_keys(broker: dramatiq.Broker) -> None:
    keys = list(broker.client.scan_iter(match=f"{broker.namespace}:*", count=1000))
    if keys:
        broker.client.delete(*keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs per run (default 10000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode (default 3)")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    broker = dramatiq.get_broker()
    loop_runs, bulk_runs = [], []
    try:
        for _ in range(args.repeat):
            loop_runs.append(_time_loop(args.jobs))
            bulk_runs.append(_time_bulk(args.jobs))
        depths = broker.queue_depths("bench")
    finally:
        _delete_keys(broker)
        JobRecord.objects.filter(queue="bench").delete()
    loop_seconds = min(loop_runs)
    bulk_seconds = min(bulk_runs)

    database = django.db.connection.vendor
    print(f"jobs per run:      {args.jobs} (fastest of {args.repeat} runs per mode)")
    print(f"database:          {database}")
    print(f"loop of enqueue:   {loop_seconds:8.2f} s  ({args.jobs / loop_seconds:9.0f} jobs/s)")
    print(f"enqueue_many:      {bulk_seconds:8.2f} s  ({args.jobs / bulk_seconds:9.0f} jobs/s)")
    print(f"speed-up:          {loop_seconds / bulk_seconds:8.1f} x")
    print(f"all runs, loop:    {', '.join(f'{seconds:.2f}' for seconds in loop_runs)} s")
    print(f"all runs, bulk:    {', '.join(f'{seconds:.2f}' for seconds in bulk_runs)} s")
    print(f"jobs in Redis:     {depths['normal']}")


if __name__ == "__main__":
    main()
