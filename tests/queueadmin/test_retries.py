"""Retries with backoff and dead letters, through a real worker on Redis."""

from __future__ import annotations

import pytest

from queueadmin.models import JobRecord, JobStatus
from tests.helpers import wait_until
from tests.testapp.models import Execution
from tests.testapp.tasks import failing_job, flaky_job

pytestmark = pytest.mark.django_db(transaction=True)


def _finished_record(job_id: str) -> JobRecord:
    def finished():
        record = JobRecord.objects.filter(job_id=job_id).first()
        if record and record.status in (JobStatus.SUCCEEDED, JobStatus.DEAD):
            return record
        return None

    return wait_until(finished, timeout=30)


def test_flaky_job_retried_then_succeeds(worker):
    job_id = flaky_job.enqueue(key="flaky", fail_times=2)

    record = _finished_record(job_id)

    assert record.status == JobStatus.SUCCEEDED
    assert record.attempts == 3
    attempts = list(Execution.objects.filter(key="flaky").values_list("attempt", flat=True))
    assert sorted(attempts) == [1, 2, 3]


def test_exhausted_job_dead_lettered(worker, broker, redis_client, settings):
    job_id = flaky_job.enqueue(key="doomed", fail_times=99)

    record = _finished_record(job_id)

    assert record.status == JobStatus.DEAD
    assert record.attempts == settings.QUEUE_DEFAULT_ATTEMPTS
    assert "attempt 3 failed on purpose" in record.last_error
    assert Execution.objects.filter(key="doomed").count() == settings.QUEUE_DEFAULT_ATTEMPTS
    dead_letters = redis_client.zrange(f"{settings.QUEUE_REDIS_NAMESPACE}:meetings.XQ", 0, -1)
    assert len(dead_letters) == 1


def test_http_404_dead_lettered_at_once(worker):
    job_id = failing_job.enqueue(key="not-found", kind="http-404")

    record = _finished_record(job_id)

    assert record.status == JobStatus.DEAD
    assert record.attempts == 1
    assert "HTTPStatusError" in record.last_error
    assert Execution.objects.filter(key="not-found").count() == 1


def test_missing_row_dead_lettered_at_once(worker):
    job_id = failing_job.enqueue(key="missing", kind="missing-row")

    record = _finished_record(job_id)

    assert record.status == JobStatus.DEAD
    assert record.attempts == 1
    assert "DoesNotExist" in record.last_error


def test_http_503_retried_after_header_delay(worker):
    job_id = failing_job.enqueue(key="unavailable", kind="http-503")

    record = _finished_record(job_id)

    assert record.status == JobStatus.DEAD
    assert record.attempts == 2
    started = list(
        Execution.objects.filter(key="unavailable").order_by("id").values_list("created_at", flat=True)
    )
    assert len(started) == 2
    # Retry-After: 1 replaces the 100 ms backoff of the test settings.
    assert (started[1] - started[0]).total_seconds() >= 0.9


@pytest.mark.parametrize("kind", ["unpicklable", "broken-str"])
def test_unserialisable_exception_recorded_as_text(worker, kind):
    job_id = failing_job.enqueue(key=kind, kind=kind)

    record = _finished_record(job_id)

    assert record.status == JobStatus.DEAD
    assert record.attempts == 2
    assert record.last_error.startswith("_")
    assert "Traceback" in record.traceback
    assert "_raise_for" in record.traceback
    assert worker.is_running()
