"""Workers survive closed database connections and do not leak them (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from queueadmin.models import JobRecord, JobStatus
from tests.helpers import wait_until
from tests.testapp.models import Execution
from tests.testapp.tasks import flaky_job

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs DATABASE_URL of a PostgreSQL server"
    ),
]


def _other_backends() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cursor.fetchall()]


def _succeeded(job_id: str) -> JobRecord | None:
    return JobRecord.objects.filter(job_id=job_id, status=JobStatus.SUCCEEDED).first()


def test_terminated_connections_next_job_succeeds(worker_factory):
    worker_factory(threads=2)
    warm_up = [flaky_job.enqueue(key=f"warm-{n}") for n in range(4)]
    for job_id in warm_up:
        wait_until(lambda: _succeeded(job_id), timeout=30)
    backends = _other_backends()
    assert backends

    with connection.cursor() as cursor:
        for pid in backends:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    job_id = flaky_job.enqueue(key="after-terminate")

    record = wait_until(lambda: _succeeded(job_id), timeout=30)
    assert record.attempts == 1
    assert list(Execution.objects.filter(key="after-terminate").values_list("attempt", flat=True)) == [1]


def test_thousands_of_jobs_do_not_leak_connections(worker_factory):
    threads = 4
    worker_factory(threads=threads)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        from django.db import connections

        try:
            while not done.is_set():
                peak = max(peak, len(_other_backends()))
                done.wait(0.2)
        finally:
            connections.close_all()

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        job_ids = [flaky_job.enqueue(key="bulk") for _ in range(2000)]
        wait_until(
            lambda: JobRecord.objects.filter(
                job_id__in=job_ids, status=JobStatus.SUCCEEDED
            ).count()
            == len(job_ids),
            timeout=240,
            interval=1,
        )
    finally:
        done.set()
        sampler.join()

    assert Execution.objects.filter(key="bulk").count() == 2000
    # One connection per worker thread, the main thread's and the sampler's.
    assert peak <= threads + 3
