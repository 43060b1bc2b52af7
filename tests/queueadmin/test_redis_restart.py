"""Queued jobs survive a Redis restart and workers reconnect on their own."""

from __future__ import annotations

import time

import pytest

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
