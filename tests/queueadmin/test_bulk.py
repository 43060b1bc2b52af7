"""Bulk enqueue: validation of all payloads, idempotency per item, records, real workers."""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import transaction

from queueadmin.errors import InvalidPayloadError, PayloadTooLargeError, UnencodableValueError
from queueadmin.metrics import enqueued_field, jobs_key
from queueadmin.models import JobRecord, JobStatus
from queueadmin.queues import MEETINGS
from queueadmin.records import flush_job_events
from queueadmin.redisclient import job_events_key
from tests.helpers import wait_until
from tests.testapp.models import Execution
from tests.testapp.tasks import NoteJob, note_job, short_ttl_job, typed_job

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


def test_models_and_mappings_validated_like_dicts(broker):
    payloads = [NoteJob(key="model"), OrderedDict(key="mapping", seconds="0.5"), {"key": "dict"}]

    job_ids = note_job.enqueue_many(payloads)

    flush_job_events(wait=True)
    records = {record.job_id: record.payload for record in JobRecord.objects.all()}
    assert [records[job_id] for job_id in job_ids] == [
        {"key": "model", "seconds": 0.0},
        {"key": "mapping", "seconds": 0.5},
        {"key": "dict", "seconds": 0.0},
    ]


def test_invalid_mapping_named_by_index(broker):
    with pytest.raises(InvalidPayloadError) as caught:
        note_job.enqueue_many([{"key": "a"}, OrderedDict(key="b", seconds="slow")])

    assert [field for field, _ in caught.value.errors] == ["[1].seconds"]
    assert broker.queue_depths(MEETINGS)["normal"] == 0


def test_unencodable_item_names_its_index(broker):
    valid = {
        "key": "ok", "when": datetime(2026, 3, 1, tzinfo=timezone.utc), "day": date(2026, 3, 1),
        "ident": uuid.uuid4(), "amount": Decimal("1.50"), "note": "n",
    }

    with pytest.raises(UnencodableValueError) as caught:
        typed_job.enqueue_many([valid, {**valid, "extra": {"handle": object()}}])

    assert caught.value.path == "[1].extra.handle"
    assert broker.queue_depths(MEETINGS)["normal"] == 0


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
    # events into the records with one select and one upsert; a loop would run
    # 500 statements or more. On PostgreSQL the upsert runs on a psycopg cursor
    # that Django's query log does not see, so there the select is counted.
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


def test_bulk_records_match_single_enqueue(broker):
    single = note_job.enqueue({"key": "one"}, idempotency_key="single-1", correlation_id="corr-bulk")
    first, second = note_job.enqueue_many(
        [{"key": "a"}, {"key": "b", "seconds": 0.5}],
        idempotency_keys=["bulk-1", None],
        correlation_id="corr-bulk",
    )

    flush_job_events(wait=True)
    records = {record.job_id: record for record in JobRecord.objects.all()}
    assert records[first].idempotency_key == "bulk-1"
    assert records[first].options["envelope"]["idempotency_key"] == "bulk-1"
    # Without a key of its own, a job's key is its id, as with a single enqueue.
    assert records[second].idempotency_key == second
    assert records[second].options["envelope"]["idempotency_key"] == second
    assert records[second].payload == {"key": "b", "seconds": 0.5}
    for job_id in (first, second):
        assert records[job_id].correlation_id == "corr-bulk"
        assert records[job_id].status == JobStatus.ENQUEUED
        assert records[job_id].broker_message_id.startswith(f"normal:{job_id}:")
        # The same option names as a job sent on its own, with the same envelope fields.
        assert records[job_id].options.keys() == records[single].options.keys()
        assert (
            records[job_id].options["envelope"].keys() == records[single].options["envelope"].keys()
        )


def test_batch_larger_than_one_event_recorded(broker):
    job_ids = note_job.enqueue_many([{"key": f"many-{i}"} for i in range(2_500)])

    assert flush_job_events(wait=True) == 2_500
    assert JobRecord.objects.filter(job_id__in=job_ids).count() == 2_500
    assert broker.queue_depths(MEETINGS)["normal"] == 2_500


def test_too_large_item_names_its_index(broker, settings):
    settings.QUEUE_MAX_PAYLOAD_BYTES = 2048

    with pytest.raises(PayloadTooLargeError, match=r"note_job\[1\]"):
        note_job.enqueue_many([{"key": "small"}, {"key": "x" * 4096}])

    assert broker.queue_depths(MEETINGS)["normal"] == 0


def test_too_large_item_in_transaction(broker, settings):
    settings.QUEUE_MAX_PAYLOAD_BYTES = 2048

    with pytest.raises(PayloadTooLargeError, match=r"note_job\[1\]"), transaction.atomic():
        note_job.enqueue_many([{"key": "small"}, {"key": "x" * 4096}])

    assert broker.queue_depths(MEETINGS)["normal"] == 0
    assert not JobRecord.objects.exists()


def test_job_ids_are_uuid4(broker):
    job_ids = note_job.enqueue_many([{"key": f"id-{i}"} for i in range(200)])

    parsed = [uuid.UUID(job_id) for job_id in job_ids]
    assert all(str(value) == job_id for value, job_id in zip(parsed, job_ids))
    assert {value.version for value in parsed} == {4}
    assert {value.variant for value in parsed} == {uuid.RFC_4122}
    assert len(set(job_ids)) == 200


ODD_KEYS = ["with space", "line\nbreak", "1 2 3 4\n", "Grüße 会议 🎉", ":", "x" * 255, "é" * 255]


def test_odd_keys_claimed_once(broker):
    payloads = [{"key": f"odd-{i}"} for i in range(len(ODD_KEYS))]

    first = note_job.enqueue_many(payloads, idempotency_keys=ODD_KEYS)
    second = note_job.enqueue_many(payloads, idempotency_keys=ODD_KEYS)

    assert second == first
    assert len(set(first)) == len(ODD_KEYS)
    assert broker.queue_depths(MEETINGS)["normal"] == len(ODD_KEYS)
    flush_job_events(wait=True)
    keys = dict(JobRecord.objects.values_list("job_id", "idempotency_key"))
    assert [keys[job_id] for job_id in first] == ODD_KEYS


@pytest.mark.parametrize("key", ODD_KEYS)
def test_single_odd_key_claimed_once(broker, key):
    first = note_job.enqueue({"key": "single"}, idempotency_key=key)
    second = note_job.enqueue({"key": "single"}, idempotency_key=key)

    assert second == first
    assert broker.queue_depths(MEETINGS)["normal"] == 1


def test_duplicate_keys_in_one_batch(broker):
    job_ids = note_job.enqueue_many(
        [{"key": "a"}, {"key": "b"}, {"key": "c"}], idempotency_keys=["same", None, "same"]
    )

    assert job_ids[2] == job_ids[0]
    assert job_ids[1] != job_ids[0]
    assert broker.queue_depths(MEETINGS)["normal"] == 2
    assert flush_job_events(wait=True) == 2
    assert set(JobRecord.objects.values_list("job_id", flat=True)) == {job_ids[0], job_ids[1]}


def test_delayed_high_batch_over_chunks(broker, redis_client):
    count = 1_201
    job_ids = note_job.enqueue_many(
        [{"key": f"d-{i}"} for i in range(count)], priority="high", delay=60_000
    )

    base = f"{settings.QUEUE_REDIS_NAMESPACE}:{MEETINGS}"
    assert broker.queue_depths(MEETINGS) == {"high": 0, "normal": 0, "low": 0, "delayed": count}
    assert redis_client.hlen(f"{base}.delayed.jobs") == count
    assert redis_client.hlen(f"{base}.msgs") == count
    assert broker.cancel_delayed(MEETINGS, job_ids[-1])
    assert flush_job_events(wait=True) == count


def test_bulk_key_uses_actor_ttl(broker, redis_client):
    short_ttl_job.enqueue_many([{"key": "ttl"}], idempotency_keys=["ttl-1"])

    ttl = redis_client.ttl(f"{settings.QUEUE_REDIS_NAMESPACE}:idem:short_ttl_job:ttl-1")
    assert 0 < ttl <= 5


def test_bulk_record_equals_single_record(broker):
    options = {"priority": "high", "delay": 60_000, "correlation_id": "corr-eq"}
    single_id = note_job.enqueue({"key": "same", "seconds": 0.25}, idempotency_key="eq-1", **options)
    (bulk_id,) = note_job.enqueue_many(
        [{"key": "same", "seconds": 0.25}], idempotency_keys=["eq-2"], **options
    )

    flush_job_events(wait=True)
    single = JobRecord.objects.get(job_id=single_id)
    bulk = JobRecord.objects.get(job_id=bulk_id)
    for name in ("actor", "queue", "status", "priority", "payload", "correlation_id", "user_id"):
        assert getattr(bulk, name) == getattr(single, name), name
    assert bulk.status == JobStatus.DELAYED
    assert bulk.idempotency_key == "eq-2"
    assert bulk.broker_message_id.startswith(f"high:{bulk_id}:")
    assert abs((bulk.eta - bulk.enqueued_at).total_seconds() - 60) < 1
    assert abs((single.eta - single.enqueued_at).total_seconds() - 60) < 1
    for record, key in ((single, "eq-1"), (bulk, "eq-2")):
        envelope = record.options["envelope"]
        assert envelope.pop("idempotency_key") == key
        envelope.pop("created_at")
        record.options.pop("due_at_ms", None)
    assert bulk.options == single.options


def test_bulk_send_writes_event_per_job(broker, redis_client):
    job_ids = note_job.enqueue_many(
        [{"key": "e-1"}, {"key": "e-2"}, {"key": "e-3"}], idempotency_keys=["ev-1", "ev-2", "ev-1"]
    )

    # The third item repeats the first one's key, so only two jobs are sent.
    events = [json.loads(raw) for raw in redis_client.lrange(job_events_key(), 0, -1)]
    sent_ids = [event["message"]["message_id"] for event in events if event["kind"] == "sent"]
    assert sent_ids == job_ids[:2]
    assert job_ids[2] == job_ids[0]
    counted = redis_client.hget(jobs_key(), enqueued_field(MEETINGS, "note_job"))
    assert int(counted) == 2
