"""Bulk enqueue: validation of all payloads, idempotency per item, records, real workers."""

from __future__ import annotations

import pytest
from django.db import transaction

from queueadmin.errors import InvalidPayloadError
from queueadmin.models import JobRecord, JobStatus
from queueadmin.queues import MEETINGS
from queueadmin.records import flush_job_events
from tests.helpers import wait_until
from tests.testapp.models import Execution
from tests.testapp.tasks import note_job

pytestmark = pytest.mark.django_db(transaction=True)


def test_enqueue_many_runs_every_job(broker, worker):
    job_ids = note_job.enqueue_many([{"key": f"bulk-{i}"} for i in range(20)])

    wait_until(lambda: Execution.objects.count() == 20, timeout=60)
    assert len(set(job_ids)) == 20
    succeeded = JobRecord.objects.filter(job_id__in=job_ids, status=JobStatus.SUCCEEDED)
    assert wait_until(lambda: succeeded.count() == 20, timeout=30)


def test_invalid_item_sends_nothing(broker):
    payloads = [{"key": "a"}, {"key": "b"}, {"key": "c", "seconds": "slow"}, {}]

    with pytest.raises(InvalidPayloadError) as caught:
        note_job.enqueue_many(payloads)

    fields = [field for field, _ in caught.value.errors]
    assert fields == ["[2].seconds", "[3].key"]
    assert "received 'slow'" in str(caught.value)
    assert broker.queue_depths(MEETINGS)["normal"] == 0
    flush_job_events(wait=True)
    assert JobRecord.objects.count() == 0


def test_idempotency_key_per_item(broker):
    first = note_job.enqueue_many(
        [{"key": "a"}, {"key": "b"}], idempotency_keys=["order-1", "order-2"]
    )
    second = note_job.enqueue_many(
        [{"key": "a"}, {"key": "c"}, {"key": "d"}], idempotency_keys=["order-1", "order-3", None]
    )

    assert second[0] == first[0]
    assert second[1] not in first
    assert broker.queue_depths(MEETINGS)["normal"] == 4
    # The duplicate item was not sent, so it has no record of its own.
    flush_job_events(wait=True)
    assert JobRecord.objects.count() == 4
    assert set(JobRecord.objects.values_list("job_id", flat=True)) == {*first, *second}


def test_records_written_in_bulk(broker, django_assert_max_num_queries):
    # The send itself writes no record. One flush folds the 500 "enqueued"
    # events into the records with one select and one multi-row upsert; a loop
    # would run 500 statements or more.
    with django_assert_max_num_queries(20):
        job_ids = note_job.enqueue_many(
            [{"key": f"r-{i}"} for i in range(500)], priority="low", delay=60_000
        )
        assert flush_job_events(wait=True) == 500

    records = JobRecord.objects.filter(job_id__in=job_ids)
    assert records.count() == 500
    assert set(records.values_list("status", flat=True)) == {JobStatus.DELAYED}
    assert set(records.values_list("priority", flat=True)) == {1}
    assert broker.queue_depths(MEETINGS)["delayed"] == 500


def test_key_count_must_match(broker):
    with pytest.raises(ValueError, match="Got 1 idempotency keys for 2 payloads"):
        note_job.enqueue_many([{"key": "a"}, {"key": "b"}], idempotency_keys=["one"])


def test_sent_after_commit_dropped_on_rollback(broker):
    with transaction.atomic():
        kept = note_job.enqueue_many([{"key": "kept"}])
        assert broker.queue_depths(MEETINGS)["normal"] == 0
    assert broker.queue_depths(MEETINGS)["normal"] == 1

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        note_job.enqueue_many([{"key": "dropped"}])
        raise Rollback
    assert broker.queue_depths(MEETINGS)["normal"] == 1
    flush_job_events(wait=True)
    assert list(JobRecord.objects.values_list("job_id", flat=True)) == kept


def test_keys_inside_atomic_rejected(broker):
    with pytest.raises(ValueError, match="cannot run inside transaction.atomic"):
        with transaction.atomic():
            note_job.enqueue_many([{"key": "a"}], idempotency_keys=["k"])
