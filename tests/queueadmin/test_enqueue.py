"""Enqueueing inside transactions: sent after the commit, never after a rollback."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import transaction

from queueadmin.models import JobRecord, JobStatus
from tests.helpers import wait_until
from tests.testapp.models import Execution
from tests.testapp.tasks import record_once

pytestmark = pytest.mark.django_db(transaction=True)


class _Rollback(Exception):
    pass


def _queue_length(redis_client) -> int:
    return redis_client.llen(f"{settings.QUEUE_REDIS_NAMESPACE}:meetings")


def test_job_sent_after_commit(broker, redis_client):
    with transaction.atomic():
        job_id = record_once.enqueue(key="commit")
        length_inside = _queue_length(redis_client)

    assert length_inside == 0
    assert _queue_length(redis_client) == 1
    assert JobRecord.objects.filter(job_id=job_id).exists()


def test_job_dropped_on_rollback(broker, redis_client):
    with pytest.raises(_Rollback):
        with transaction.atomic():
            job_id = record_once.enqueue(key="rollback")
            raise _Rollback

    assert _queue_length(redis_client) == 0
    assert not JobRecord.objects.filter(job_id=job_id).exists()


def test_nested_blocks_wait_for_outer_commit(broker, redis_client):
    with transaction.atomic():
        with transaction.atomic():
            kept = record_once.enqueue(key="inner-kept")
        with pytest.raises(_Rollback):
            with transaction.atomic():
                dropped = record_once.enqueue(key="inner-dropped")
                raise _Rollback
        length_inside = _queue_length(redis_client)

    assert length_inside == 0
    assert _queue_length(redis_client) == 1
    assert JobRecord.objects.filter(job_id=kept).exists()
    assert not JobRecord.objects.filter(job_id=dropped).exists()


def test_worker_finds_row_written_with_job(worker):
    with transaction.atomic():
        Execution.objects.create(key="row-before-job")
        job_id = record_once.enqueue(key="row-job")

    wait_until(
        lambda: JobRecord.objects.filter(job_id=job_id, status=JobStatus.SUCCEEDED).exists(),
        timeout=30,
    )
    assert Execution.objects.filter(key="row-before-job").count() == 1
