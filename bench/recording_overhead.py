"""Measure what job recording adds to the per-job cost of a no-op job.

For each variant a child process starts one real worker process
(``rundramatiq``, 1 process, 4 threads), enqueues N no-op jobs and waits until
the queue is drained and, where jobs are recorded, until every job event is
written into its record. The per-job cost is the wall time from the first
enqueue to that point, divided by N. Runs alternate between the variants; the
median per variant is reported. The variants:

- ``bare``: none of the queue administration middleware;
- ``baseline``: all but the tracking middleware;
- ``recording``: the project's middleware list, records written by a thread
  in the worker process (``QUEUE_RECORD_WRITER=worker``, the default);
- ``recording-process``: the same, records written by ``manage.py
  write_job_records`` running beside the worker (``QUEUE_RECORD_WRITER=process``).

Usage (from the repository root):

    REDIS_URL=redis://127.0.0.1:6379/0 \\
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    PYTHONPATH=$PWD python bench/recording_overhead.py --jobs 3000 --rounds 3

The job records are written into a database created for the run and dropped
afterwards (PostgreSQL), or into SQLite under ``var/`` without DATABASE_URL.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VARIANTS = {
    "bare": "bench.settings_bare",
    "baseline": "bench.settings_baseline",
    "recording": "bench.settings_recording",
    "recording-process": "bench.settings_recording",
}

#: Record writer per variant, as QUEUE_RECORD_WRITER; None where nothing is recorded.
RECORD_WRITERS = {"recording": "worker", "recording-process": "process"}

#: Seconds to wait for the job events of a run to be written.
RECORDS_TIMEOUT_SECONDS = 120


def _child(jobs: int) -> None:
    """Run one measurement inside a process whose settings pick the variant."""
    import django

    django.setup()
    import dramatiq

    from bench.tasks import noop_job
    from tests.workers import start_worker

    from queueadmin.jobevents import buffer
    from queueadmin.redisclient import get_redis, job_events_key

    broker = dramatiq.get_broker()
    writer = os.environ.get("QUEUE_RECORD_WRITER")
    worker = start_worker(
        ["emails"], threads=4, DJANGO_SETTINGS_MODULE=os.environ["DJANGO_SETTINGS_MODULE"]
    )
    record_writer = None
    if writer == "process":
        record_writer = subprocess.Popen(
            [sys.executable, "manage.py", "write_job_records"],
            cwd=BASE_DIR, stdout=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        started = time.perf_counter()
        for index in range(jobs):
            noop_job.enqueue(index=index, label="overhead", tag="bench")
        broker.join("emails", interval=5, timeout=600_000)
        if writer is not None:
            buffer.push()
            _wait_for_records(get_redis(), job_events_key())
        elapsed = time.perf_counter() - started
    finally:
        worker.stop()
        if record_writer is not None:
            record_writer.terminate()
            record_writer.wait(timeout=30)
        _delete_namespace(broker.client, broker.namespace)
    print(json.dumps({"seconds": elapsed, "jobs": jobs}))


def _delete_namespace(client, namespace: str) -> None:
    keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


def _wait_for_records(client, events_key: str) -> None:
    deadline = time.monotonic() + RECORDS_TIMEOUT_SECONDS
    while client.llen(events_key):
        if time.monotonic() > deadline:
            raise TimeoutError(f"Job events still waiting after {RECORDS_TIMEOUT_SECONDS} s.")
        time.sleep(0.005)


def _database_url(run_id: str) -> tuple[str | None, callable]:
    base = os.environ.get("DATABASE_URL")
    if not base or not base.startswith("postgres"):
        return None, lambda: None
    import psycopg

    name = f"bench_recording_{run_id}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return base.rsplit("/", 1)[0] + f"/{name}", drop


def _run_variant(variant: str, jobs: int, env: dict[str, str]) -> float:
    child_env = {**env, "DJANGO_SETTINGS_MODULE": VARIANTS[variant]}
    child_env.pop("QUEUE_RECORD_WRITER", None)
    if variant in RECORD_WRITERS:
        child_env["QUEUE_RECORD_WRITER"] = RECORD_WRITERS[variant]
    child_env["QUEUE_REDIS_NAMESPACE"] = f"bench-{uuid.uuid4().hex[:8]}"
    output = subprocess.run(
        [sys.executable, __file__, "--child", "--jobs", str(jobs)],
        cwd=BASE_DIR, env=child_env, check=True, capture_output=True, text=True,
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    return result["seconds"] / result["jobs"] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000, help="Jobs per run.")
    parser.add_argument("--rounds", type=int, default=3, help="Runs per variant.")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.jobs)
        return

    run_id = uuid.uuid4().hex[:8]
    env = dict(os.environ, PYTHONPATH=str(BASE_DIR), VAR_DIR=str(BASE_DIR / "var" / f"bench-{run_id}"))
    database_url, drop = _database_url(run_id)
    if database_url:
        env["DATABASE_URL"] = database_url
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"],
            cwd=BASE_DIR, env={**env, "DJANGO_SETTINGS_MODULE": VARIANTS["recording"]},
            check=True,
        )
        costs: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for round_number in range(args.rounds):
            for variant in VARIANTS:
                cost = _run_variant(variant, args.jobs, env)
                costs[variant].append(cost)
                print(f"round {round_number + 1} {variant}: {cost:.0f} us per job", flush=True)
    finally:
        drop()
    medians = {variant: statistics.median(values) for variant, values in costs.items()}
    for variant, median in medians.items():
        print(f"median {variant}: {median:.0f} us per job")
    for variant in RECORD_WRITERS:
        recording_overhead = (medians[variant] / medians["baseline"] - 1) * 100
        total_overhead = (medians[variant] / medians["bare"] - 1) * 100
        print(f"recording overhead ({variant} vs baseline): {recording_overhead:+.1f} %")
        print(f"all queue administration middleware ({variant} vs bare): {total_overhead:+.1f} %")


if __name__ == "__main__":
    main()
