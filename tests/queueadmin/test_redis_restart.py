"""Queued jobs survive a Redis restart and workers reconnect on their own."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
import redis
from django.conf import settings

from queueadmin.models import JobRecord, JobStatus
from tests.brokers import actors_on, build_project_broker
from tests.helpers import wait_until
from tests.testapp.models import Execution
from tests.testapp.tasks import record_once

pytestmark = pytest.mark.django_db(transaction=True)


def test_queued_jobs_run_after_restart(private_redis, worker_factory):
    url = private_redis.start()
    with actors_on(build_project_broker(url), record_once):
        worker = worker_factory(threads=1, REDIS_URL=url)
        before = [record_once.enqueue(key=f"before-{n}", seconds=0.3) for n in range(8)]

        private_redis.stop()
        time.sleep(1)
        private_redis.start()
        after = [record_once.enqueue(key=f"after-{n}") for n in range(3)]

        for job_id in [*before, *after]:
            wait_until(
                lambda: JobRecord.objects.filter(job_id=job_id, status=JobStatus.SUCCEEDED).exists(),
                timeout=60,
            )

    assert worker.is_running()
    for key in [f"before-{n}" for n in range(8)] + [f"after-{n}" for n in range(3)]:
        assert Execution.objects.filter(key=key).count() == 1


def _waiting_delayed(client: redis.Redis) -> int:
    return client.zcard(f"{settings.QUEUE_REDIS_NAMESPACE}:meetings.delayed")


def test_delayed_job_runs_at_due_time_after_restart(private_redis, worker_factory):
    url = private_redis.start()
    with actors_on(build_project_broker(url), record_once):
        worker = worker_factory(threads=1, REDIS_URL=url, QUEUE_RECOVERY_INTERVAL_SECONDS="0.5")
        enqueued_at = datetime.now(timezone.utc)
        job_id = record_once.enqueue(key="delayed-restart", delay=10_000)
        client = redis.Redis.from_url(url)
        # The delayed job waits in Redis, not in the worker's memory.
        wait_until(lambda: _waiting_delayed(client) == 1, timeout=10)
        client.close()

        private_redis.stop()
        time.sleep(1)
        private_redis.start()
        client = redis.Redis.from_url(url)
        assert _waiting_delayed(client) == 1
        client.close()
        wait_until(
            lambda: JobRecord.objects.filter(job_id=job_id, status=JobStatus.SUCCEEDED).exists(),
            timeout=40,
        )

    assert worker.is_running()
    effect = Execution.objects.get(key="delayed-restart")
    run_after = (effect.created_at - enqueued_at).total_seconds()
    assert run_after >= 9.5
    # Due at 10 s: a few seconds allow for the consumer's reconnect after the restart.
    assert run_after <= 10 + 3
