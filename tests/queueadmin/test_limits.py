"""Age limits on the Redis clock and per-queue time limits, with real workers."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from django.conf import settings
from freezegun import freeze_time

from queueadmin import idempotency
from queueadmin.models import JobRecord, JobStatus
from tests.helpers import wait_until
from tests.testapp.models import Execution
from tests.testapp.tasks import slow_job

pytestmark = pytest.mark.django_db(transaction=True)

#: Worker settings for a two-second maximum age on the meetings queue.
SHORT_AGE = {"QUEUE_MAX_AGE_SECONDS_MEETINGS": "2"}


def _final_record(job_id: str) -> JobRecord:
    def finished():
        record = JobRecord.objects.filter(job_id=job_id).first()
        if record and record.status in (JobStatus.SUCCEEDED, JobStatus.EXPIRED, JobStatus.DEAD):
            return record
        return None

    return wait_until(finished, timeout=45)


def test_job_older_than_queue_limit_expires(broker, worker_factory, redis_client):
    job_id = slow_job.enqueue(key="stale")
    time.sleep(2.5)

    worker_factory(**SHORT_AGE)
    record = _final_record(job_id)

    assert record.status == JobStatus.EXPIRED
    assert record.last_error.startswith("age limit exceeded")
    assert not Execution.objects.filter(key__startswith="stale").exists()
    # The fetch claimed the job's idempotency key; the expiry let it go.
    run_key = idempotency.run_key(settings.QUEUE_REDIS_NAMESPACE, slow_job.actor_name, job_id)
    assert not redis_client.exists(run_key)


@pytest.mark.parametrize("offset_minutes", [-10, 10])
def test_producer_clock_skew_ignored(broker, worker_factory, offset_minutes):
    worker_factory(**SHORT_AGE)
    skewed_now = datetime.now(timezone.utc) + timedelta(minutes=offset_minutes)
    with freeze_time(skewed_now, tick=True):
        job_id = slow_job.enqueue(key=f"skewed{offset_minutes}")

    record = _final_record(job_id)

    assert record.status == JobStatus.SUCCEEDED


def test_delayed_job_age_counts_from_due_time(broker, worker_factory):
    worker_factory(**SHORT_AGE)

    job_id = slow_job.enqueue(key="delayed", delay=3000)
    record = _final_record(job_id)

    assert record.status == JobStatus.SUCCEEDED
    assert Execution.objects.filter(key="delayed").count() == 1


def test_queue_time_limit_interrupts_job(broker, worker_factory):
    worker_factory(QUEUE_TIME_LIMIT_SECONDS_MEETINGS="1", QUEUE_DEFAULT_ATTEMPTS="1")

    job_id = slow_job.enqueue(key="too-slow", seconds=5)
    record = _final_record(job_id)

    assert record.status == JobStatus.DEAD
    assert "TimeLimitExceeded" in record.last_error
    assert not Execution.objects.filter(key="too-slow").exists()
