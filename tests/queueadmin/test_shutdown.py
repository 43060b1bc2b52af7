"""SIGTERM: running jobs finish within the grace period, the rest go back unspent."""

from __future__ import annotations

import time

import pytest

from queueadmin.models import JobRecord, JobStatus
from queueadmin.records import flush_job_events
from tests.helpers import wait_until
from tests.testapp.models import Execution
from tests.testapp.tasks import record_once, slow_job

pytestmark = pytest.mark.django_db(transaction=True)


def _succeeded(job_id: str) -> bool:
    return JobRecord.objects.filter(job_id=job_id, status=JobStatus.SUCCEEDED).exists()


def test_running_job_finishes_on_sigterm(worker_factory):
    worker = worker_factory(threads=1)
    job_id = record_once.enqueue(key="finish", seconds=2)
    wait_until(lambda: Execution.objects.filter(key="finish:started").exists(), timeout=30)

    code = worker.stop(graceful=True)

    assert code == 0
    # The stopped process pushed the job's outcome to Redis before its ack;
    # records are written from there by any process.
    flush_job_events(wait=True)
    assert _succeeded(job_id)
    worker_factory(threads=1)
    time.sleep(3)
    assert Execution.objects.filter(key="finish:started").count() == 1
    assert Execution.objects.filter(key="finish").count() == 1


def test_prefetched_jobs_returned_without_attempt(worker_factory):
    worker = worker_factory(threads=1)
    first = record_once.enqueue(key="busy", seconds=2)
    waiting = [record_once.enqueue(key=f"waiting-{n}") for n in range(4)]
    wait_until(lambda: Execution.objects.filter(key="busy:started").exists(), timeout=30)

    worker.stop(graceful=True)
    worker_factory(threads=1)

    for job_id in [first, *waiting]:
        wait_until(lambda: _succeeded(job_id), timeout=30)
        assert JobRecord.objects.get(job_id=job_id).attempts == 1
    for n in range(4):
        assert Execution.objects.filter(key=f"waiting-{n}").count() == 1


def test_unfinished_job_handed_back_after_grace(worker_factory):
    worker = worker_factory(threads=1, extra_args=["--worker-shutdown-timeout", "1000"])
    job_id = slow_job.enqueue(key="unfinished", seconds=6)
    wait_until(lambda: Execution.objects.filter(key="unfinished:started").exists(), timeout=30)

    worker.stop(graceful=True)

    assert worker.count("Handed job") == 1
    # A crash limit of one would dead-letter the job if the hand-back counted.
    worker_factory(threads=1, QUEUE_MAX_CRASH_DELIVERIES="1")
    wait_until(lambda: _succeeded(job_id), timeout=30)
    assert JobRecord.objects.get(job_id=job_id).attempts == 1
    assert Execution.objects.filter(key="unfinished:started").count() == 2
