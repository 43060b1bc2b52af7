"""Soak: 1,000 jobs while worker processes are SIGKILLed at random and restarted."""

from __future__ import annotations

import random
import time

import pytest
from django.db.models import Count

from queueadmin.models import JobRecord, JobStatus
from tests.helpers import wait_until
from tests.testapp.models import Execution
from tests.testapp.tasks import record_once
from tests.workers import kill_worker

pytestmark = pytest.mark.django_db(transaction=True)

JOBS = 1000
#: Seconds during which workers are killed; the run then finishes undisturbed.
KILLING_SECONDS = 40
#: Fast recovery, and a crash limit that random kills never reach.
WORKER_ENV = {
    "QUEUE_HEARTBEAT_TIMEOUT_SECONDS": "3",
    "QUEUE_RECOVERY_INTERVAL_SECONDS": "0.5",
    "QUEUE_MAX_CRASH_DELIVERIES": "100",
}


def _done() -> int:
    return Execution.objects.filter(key__regex=r"^soak-\d+$").count()


def test_jobs_done_once_despite_kills(worker_factory):
    rng = random.Random(1234)
    job_ids = [record_once.enqueue(key=f"soak-{n}", seconds=0.2) for n in range(JOBS)]
    workers = [worker_factory(threads=4, **WORKER_ENV) for _ in range(2)]

    kills = 0
    stop_killing = time.monotonic() + KILLING_SECONDS
    while time.monotonic() < stop_killing and _done() < JOBS:
        time.sleep(rng.uniform(1.5, 4))
        victim = workers.pop(rng.randrange(len(workers)))
        kill_worker(victim)
        kills += 1
        workers.append(worker_factory(threads=4, **WORKER_ENV))

    wait_until(lambda: _done() >= JOBS, timeout=120, interval=0.5)
    wait_until(
        lambda: JobRecord.objects.filter(job_id__in=job_ids, status=JobStatus.SUCCEEDED).count()
        == JOBS,
        timeout=30,
        interval=0.5,
    )

    per_key = Execution.objects.filter(key__regex=r"^soak-\d+$").values("key").annotate(
        runs=Count("id")
    )
    assert kills >= 3
    assert len(per_key) == JOBS
    assert {row["runs"] for row in per_key} == {1}
