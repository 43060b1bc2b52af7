"""Jobs of SIGKILLed workers are redelivered, and repeated crashes are dead-lettered."""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from queueadmin.models import JobRecord, JobStatus
from tests.helpers import wait_until
from tests.testapp.models import Execution
from tests.testapp.tasks import record_once
from tests.workers import kill_worker

pytestmark = pytest.mark.django_db(transaction=True)


def _started(key: str) -> int:
    return Execution.objects.filter(key=f"{key}:started").count()


def test_killed_job_completes_within_30_seconds(worker_factory):
    # Default recovery settings: this is the promise for production.
    doomed = worker_factory(threads=1)
    job_id = record_once.enqueue(key="crash", first_run_seconds=120)
    wait_until(lambda: _started("crash") == 1, timeout=30)
    survivor = worker_factory(threads=1)

    kill_worker(doomed)
    killed_at = time.monotonic()
    wait_until(
        lambda: JobRecord.objects.filter(job_id=job_id, status=JobStatus.SUCCEEDED).exists(),
        timeout=40,
    )

    assert time.monotonic() - killed_at < 30
    assert Execution.objects.filter(key="crash").count() == 1
    assert _started("crash") == 2
    assert survivor.is_running()
    assert JobRecord.objects.get(job_id=job_id).attempts == 1


def test_repeated_crashes_dead_letter_job(worker_factory, redis_client):
    fast_recovery = {"QUEUE_HEARTBEAT_TIMEOUT_SECONDS": "3", "QUEUE_MAX_CRASH_DELIVERIES": "2"}
    current = worker_factory(threads=1, **fast_recovery)
    job_id = record_once.enqueue(key="crashy", seconds=60)

    for crash in (1, 2):
        wait_until(lambda: _started("crashy") == crash, timeout=40)
        replacement = worker_factory(threads=1, **fast_recovery)
        kill_worker(current)
        current = replacement

    record = wait_until(
        lambda: JobRecord.objects.filter(job_id=job_id, status=JobStatus.DEAD).first(),
        timeout=40,
    )
    assert record.last_error == "worker lost"
    assert _started("crashy") == 2
    assert not Execution.objects.filter(key="crashy").exists()
    dead_letters = redis_client.zrange(f"{settings.QUEUE_REDIS_NAMESPACE}:meetings.XQ", 0, -1)
    assert len(dead_letters) == 1
