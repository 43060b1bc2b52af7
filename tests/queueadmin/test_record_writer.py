"""Job records written by ``write_job_records`` instead of the worker processes."""

from __future__ import annotations

import pytest

from queueadmin.models import JobRecord, JobStatus
from queueadmin.redisclient import job_events_key
from tests.helpers import wait_until
from tests.testapp.models import Execution
from tests.testapp.tasks import counted_job
from tests.workers import WorkerProcess, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)


def test_worker_leaves_records_to_writer(worker_factory, redis_client):
    worker_factory(QUEUE_RECORD_WRITER="process")
    job_id = counted_job.enqueue(key="written-elsewhere")
    wait_until(lambda: Execution.objects.filter(key="written-elsewhere").exists(), timeout=30)
    # The worker pushed the job's events but wrote no record from them.
    wait_until(lambda: redis_client.llen(job_events_key()) > 0, timeout=10)
    assert not JobRecord.objects.filter(job_id=job_id, status=JobStatus.SUCCEEDED).exists()

    writer = WorkerProcess(["write_job_records"], subprocess_env(QUEUE_RECORD_WRITER="process"))
    try:
        writer.wait_for_line("Writing job records", timeout=30)
        wait_until(
            lambda: JobRecord.objects.filter(job_id=job_id, status=JobStatus.SUCCEEDED).exists(),
            timeout=30,
        )
    finally:
        code = writer.stop(graceful=True)

    assert code == 0
    assert "Stopped writing job records." in writer.output
    assert redis_client.llen(job_events_key()) == 0
