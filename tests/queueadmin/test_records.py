"""Job records written from buffered events, through a real worker."""

from __future__ import annotations

import contextlib
import json
import threading

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from queueadmin.batchevents import expand
from queueadmin.flusher import RecordFlusher
from queueadmin.jobevents import buffer
from queueadmin.metrics import enqueued_field, jobs_key
from queueadmin.models import JobRecord, JobStatus
from queueadmin.records import (
    BATCH_SIZE,
    _decode_event,
    apply_events,
    flush_job_events,
    wait_for_job_events,
)
from queueadmin.redisclient import job_events_key
from tests.helpers import wait_until
from tests.queueadmin.conftest import record_when, record_with_status
from tests.testapp.tasks import counted_job, flaky_job
from tests.workers import database_url

pytestmark = pytest.mark.django_db(transaction=True)
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs DATABASE_URL of a PostgreSQL server"
)


def test_succeeded_job_fields(worker):
    job_id = counted_job.enqueue(key="fields", correlation_id="corr-1", user_id=7)

    record = record_with_status(job_id, JobStatus.SUCCEEDED)

    assert record.actor == "counted_job"
    assert record.queue == "emails"
    assert record.correlation_id == "corr-1"
    assert record.user_id == "7"
    assert record.idempotency_key == job_id
    assert record.attempts == 1
    assert record.payload["key"] == "fields"
    assert record.options["envelope"]["correlation_id"] == "corr-1"
    assert record.started_at is not None
    assert record.finished_at >= record.started_at
    assert record.duration_ms is not None
    assert record.wait_ms is not None
    assert record.progress == 100
    assert record.result_summary == "'done after 1 runs'"


def test_progress_recorded_while_running(worker):
    job_id = counted_job.enqueue(key="progress", sleep_seconds=3)

    running = record_when(job_id, lambda record: record.progress == 50)

    assert running.status == JobStatus.RUNNING
    assert running.progress_message == "run 1"
    done = record_with_status(job_id, JobStatus.SUCCEEDED)
    assert done.progress == 100


def test_retry_fields_recorded(worker):
    job_id = counted_job.enqueue(key="retry", succeed_after=1)

    record = record_with_status(job_id, JobStatus.SUCCEEDED)

    assert record.attempts == 2
    assert record.next_retry_delay_ms == 50
    assert "run 1 failed on purpose" in record.last_error


def test_dead_letter_keeps_error_and_traceback(worker):
    job_id = flaky_job.enqueue(key="dead-record", fail_times=99)

    record = record_with_status(job_id, JobStatus.DEAD)

    assert record.attempts == settings.QUEUE_DEFAULT_ATTEMPTS
    assert "RecoverableError" in record.last_error
    assert "Traceback" in record.traceback
    assert record.broker_message_id


def test_delayed_job_has_due_time(broker):
    job_id = counted_job.enqueue(key="delayed", delay=60_000)

    flush_job_events(wait=True)
    record = JobRecord.objects.get(job_id=job_id)

    assert record.status == JobStatus.DELAYED
    assert record.eta is not None
    assert (record.eta - record.enqueued_at).total_seconds() == pytest.approx(60, abs=2)


def test_enqueue_in_transaction_inserts_record(broker):
    with transaction.atomic():
        job_id = counted_job.enqueue(key="in-transaction", correlation_id="corr-now")
        record = JobRecord.objects.get(job_id=job_id)

    assert record.status == JobStatus.ENQUEUED
    assert record.correlation_id == "corr-now"
    assert record.payload["key"] == "in-transaction"


def test_rolled_back_enqueue_leaves_no_record(broker):
    with pytest.raises(RuntimeError), transaction.atomic():
        job_id = counted_job.enqueue(key="rolled-back")
        raise RuntimeError("roll back")

    flush_job_events(wait=True)
    assert not JobRecord.objects.filter(job_id=job_id).exists()


def test_enqueue_sends_event_with_job(broker, redis_client):
    job_id = counted_job.enqueue(key="sent", idempotency_key="sent-with-job")

    # The send script wrote the event: no push of this process's buffer came first.
    assert not JobRecord.objects.filter(job_id=job_id).exists()
    events = [json.loads(raw) for raw in redis_client.lrange(job_events_key(), 0, -1)]
    sent = [event for event in events if event["kind"] == "sent" and event["message"]["message_id"] == job_id]
    assert len(sent) == 1
    (enqueued,) = expand(sent[0])
    assert enqueued["kind"] == "enqueued"
    assert enqueued["job"] == job_id
    assert enqueued["actor"] == "counted_job"
    assert enqueued["idempotency_key"] == "sent-with-job"
    assert enqueued["broker_message_id"] == sent[0]["message"]["options"]["redis_message_id"]
    counted = redis_client.hget(jobs_key(), enqueued_field(enqueued["queue"], "counted_job"))
    assert int(counted) >= 1


def test_duplicate_send_writes_no_event(broker, redis_client):
    first = counted_job.enqueue(key="sent", idempotency_key="sent-once")
    second = counted_job.enqueue(key="sent", idempotency_key="sent-once")

    assert second == first
    events = [json.loads(raw) for raw in redis_client.lrange(job_events_key(), 0, -1)]
    sent = [event for event in events if event["kind"] == "sent" and event["message"]["message_id"] == first]
    assert len(sent) == 1


def test_enqueue_insert_keeps_flushed_row(broker):
    base = {"job": "flushed-first", "actor": "counted_job", "queue": "emails"}
    apply_events([{**base, "kind": "started", "ts": 200.0, "attempt": 1}])

    from queueadmin.records import insert_enqueued_record

    insert_enqueued_record({**base, "kind": "enqueued", "ts": 199.0, "payload": {"key": "k"}})

    record = JobRecord.objects.get(job_id="flushed-first")
    assert record.status == JobStatus.RUNNING
    assert record.attempts == 1


def test_late_event_does_not_move_status_back(broker):
    base = {"job": "late-1", "actor": "counted_job", "queue": "emails"}
    apply_events([{**base, "kind": "started", "ts": 100.0, "attempt": 1}])
    apply_events([{**base, "kind": "enqueued", "ts": 99.0, "payload": {"key": "x"}}])

    record = JobRecord.objects.get(job_id="late-1")

    assert record.status == JobStatus.RUNNING
    assert record.payload == {"key": "x"}


def test_events_of_many_jobs_in_one_batch(broker):
    events = [
        {"job": f"bulk-{i}", "kind": "enqueued", "ts": 10.0, "actor": "a", "queue": "emails"}
        for i in range(300)
    ]
    events += [
        {"job": f"bulk-{i}", "kind": "succeeded", "ts": 11.0, "duration_ms": 3}
        for i in range(300)
    ]

    written = apply_events(events)

    assert written == 300
    assert JobRecord.objects.filter(status=JobStatus.SUCCEEDED).count() == 300


def _enqueued_event(job_id: str) -> str:
    return json.dumps({"job": job_id, "kind": "enqueued", "ts": 10.0, "actor": "a", "queue": "emails"})


def test_flush_reads_batches_until_list_empty(broker, redis_client):
    jobs = BATCH_SIZE + 5
    redis_client.rpush(job_events_key(), *[_enqueued_event(f"many-{i}") for i in range(jobs)])

    written = flush_job_events()

    assert written == jobs
    assert redis_client.llen(job_events_key()) == 0
    assert JobRecord.objects.filter(job_id__startswith="many-").count() == jobs


def _waiting_for_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0] > 0


@postgresql_only
def test_flush_leaves_events_sent_during_it(broker, redis_client):
    import psycopg

    redis_client.rpush(job_events_key(), _enqueued_event("first"))
    flush_job_events()
    succeeded = {"job": "first", "kind": "succeeded", "ts": 11.0, "duration_ms": 3}
    redis_client.rpush(job_events_key(), json.dumps(succeeded))
    written = []

    def flush() -> None:
        written.append(flush_job_events())
        connection.close()

    table = JobRecord._meta.db_table
    with psycopg.connect(database_url()) as blocker:
        # The flush's upsert of "first" waits for this row lock, after the
        # flush read the event list. Meanwhile another job's event arrives.
        blocker.execute(f"SELECT 1 FROM {table} WHERE job_id = 'first' FOR UPDATE")
        flusher = threading.Thread(target=flush)
        flusher.start()
        wait_until(_waiting_for_lock, timeout=10)
        redis_client.rpush(job_events_key(), _enqueued_event("second"))
        blocker.rollback()
    flusher.join(10)

    assert written == [1]
    assert JobRecord.objects.get(job_id="first").status == JobStatus.SUCCEEDED
    assert redis_client.llen(job_events_key()) == 1
    assert not JobRecord.objects.filter(job_id="second").exists()


#: An event whose upsert the database rejects: ``attempts`` has a check
#: constraint. Deadlocks, timeouts and values out of range raise from the same statement.
REJECTED_EVENT = {
    "job": "rejected", "kind": "started", "ts": 5.0, "actor": "a", "queue": "emails", "attempt": -1
}


def test_rejected_upsert_raises_database_error(broker):
    with pytest.raises(DatabaseError):
        apply_events([REJECTED_EVENT])


def test_flusher_survives_rejected_upsert(broker, redis_client):
    redis_client.rpush(job_events_key(), json.dumps(REJECTED_EVENT))

    RecordFlusher()._flush_once()

    assert redis_client.llen(job_events_key()) == 1
    assert not JobRecord.objects.filter(job_id="rejected").exists()


def test_event_wait_times_out_when_idle(broker):
    assert wait_for_job_events(0.1) is False


def test_event_wait_wakes_and_keeps_order(broker, redis_client):
    pusher = threading.Timer(0.2, lambda: redis_client.rpush(job_events_key(), "first", "second"))
    pusher.start()

    woken = wait_for_job_events(5)
    pusher.join()

    assert woken is True
    assert redis_client.lrange(job_events_key(), 0, -1) == [b"first", b"second"]


def test_upsert_rolls_back_with_caller(broker):
    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        apply_events([{"job": "undone", "kind": "enqueued", "ts": 5.0, "actor": "a", "queue": "emails"}])
        assert JobRecord.objects.filter(job_id="undone").exists()
        raise Rollback

    assert not JobRecord.objects.filter(job_id="undone").exists()


def test_upsert_keeps_awkward_values(broker):
    text = "quote ' double \" backslash \\ tab \t newline \n 会议 café 🎉 {NULL} ,"
    payload = {"rows": [[1, None, [text]], {"deep": [{"x": 2**62}]}], "empty": [], "null": None}
    base = {"job": "awkward", "actor": "a", "queue": "emails"}
    apply_events(
        [
            {**base, "kind": "enqueued", "ts": 5.0, "payload": payload, "idempotency_key": text,
             "options": {"envelope": {"metadata": {"note": text}}}},
            {**base, "kind": "started", "ts": 6.0, "attempt": 1, "wait_ms": None},
            {**base, "kind": "failed", "ts": 7.0, "error": text, "traceback": text * 20_000,
             "attempt": 1, "dead": True, "duration_ms": None},
        ]
    )

    record = JobRecord.objects.get(job_id="awkward")
    assert record.payload == payload
    assert record.options["envelope"]["metadata"]["note"] == text
    assert record.idempotency_key == text
    assert record.last_error == text
    assert record.traceback == text * 20_000
    assert record.status == JobStatus.DEAD
    assert record.wait_ms is None
    assert record.duration_ms is None
    assert record.eta is None
    assert record.progress is None


@pytest.mark.parametrize("event_field, column", [("job", "job_id"), ("actor", "actor"), ("queue", "queue")])
def test_upsert_never_truncates_values(broker, event_field, column):
    long_value = "x" * 200
    event = {"job": "short-id", "kind": "enqueued", "ts": 5.0, "actor": "a", "queue": "emails"}

    # PostgreSQL rejects the value, as an INSERT of that row does. SQLite stores it whole.
    with contextlib.suppress(DatabaseError):
        apply_events([{**event, event_field: long_value}])

    stored = list(JobRecord.objects.values_list(column, flat=True))
    assert stored in ([], [long_value])


#: Raw events that orjson decodes differently from the standard library or
#: rejects: integers outside 64 bits, NaN, Infinity and a lone surrogate.
STDLIB_ONLY_EVENTS = {
    "above_u64": b'{"kind": "progress", "n": 18446744073709551616}',
    "below_i64": b'{"kind": "progress", "n": -9223372036854775809}',
    "huge_integer": b'{"kind": "progress", "n": 123456789012345678901234567890}',
    "nan": b'{"kind": "progress", "n": NaN}',
    "infinity": b'{"kind": "progress", "n": -Infinity}',
    "lone_surrogate": b'{"kind": "progress", "n": "\\ud800"}',
}

#: Raw events that take the orjson path.
ORJSON_EVENTS = {
    "plain": b'{"kind":"started","job":"j","ts":1796445823.3150578,"attempt":1,"wait_ms":5241}',
    "u64_max": b'{"kind": "progress", "n": 18446744073709551615}',
    "i64_min": b'{"kind": "progress", "n": -9223372036854775808}',
    "eighteen_digits": b'{"kind": "progress", "n": 123456789012345678}',
    "float_digits": b'{"kind": "progress", "n": 0.30000000000000004, "m": 1e+22}',
    "unicode": '{"kind": "progress", "n": "会议 café 🎉 \\u00e9"}'.encode(),
}


@pytest.mark.parametrize("raw", [*STDLIB_ONLY_EVENTS.values(), *ORJSON_EVENTS.values()],
                         ids=[*STDLIB_ONLY_EVENTS, *ORJSON_EVENTS])
def test_event_decoding_matches_json(raw):
    decoded = _decode_event(raw)

    # repr distinguishes an int from an equal float and shows NaN.
    assert repr(decoded) == repr(json.loads(raw))


def test_event_decoding_rejects_invalid_json():
    with pytest.raises(json.JSONDecodeError):
        _decode_event(b'{"kind": "progress",')


def test_flush_keeps_integers_over_64_bits(broker, redis_client):
    # No float equals either integer, so a decoding through float fails the check.
    payload = {"big": 2**70 + 1, "negative": -(2**64) - 1, "small": 7}
    event = {"job": "big-int", "kind": "enqueued", "ts": 5.0, "actor": "a", "queue": "emails",
             "payload": payload}
    redis_client.rpush(job_events_key(), json.dumps(event))

    flush_job_events(wait=True)

    assert JobRecord.objects.get(job_id="big-int").payload == payload


STORED_PAYLOADS = {
    "object": {"text": "quote ' \" \\ 会议 🎉", "rows": [[1, None, 2.5]], "empty": {}},
    "json_null": None,
    "string": "plain string",
    "empty_list": [],
}


@pytest.mark.parametrize("payload", STORED_PAYLOADS.values(), ids=STORED_PAYLOADS.keys())
def test_later_events_keep_stored_json(broker, payload):
    options = {"envelope": {"metadata": {"note": "kept"}}, "priority": "normal"}
    base = {"job": "stored-json", "actor": "a", "queue": "emails"}
    apply_events([{**base, "kind": "enqueued", "ts": 5.0, "payload": payload, "options": options}])

    apply_events([{**base, "kind": "started", "ts": 6.0, "attempt": 1}])
    apply_events([{**base, "kind": "succeeded", "ts": 7.0, "duration_ms": 1}])

    record = JobRecord.objects.get(job_id="stored-json")
    assert record.status == JobStatus.SUCCEEDED
    assert record.payload == payload
    assert record.options == options


@postgresql_only
def test_later_events_keep_exact_json_numbers(broker):
    # A Python float cannot hold this number, but the stored jsonb value can.
    stored = '{"amount": 0.1000000000000000000001, "count": 123456789012345678901234567890}'
    base = {"job": "exact-json", "actor": "a", "queue": "emails"}
    apply_events([{**base, "kind": "enqueued", "ts": 5.0}])
    with connection.cursor() as cursor:
        cursor.execute("UPDATE queueadmin_jobrecord SET payload = %s::jsonb WHERE job_id = %s",
                       [stored, "exact-json"])

    apply_events([{**base, "kind": "started", "ts": 6.0, "attempt": 1}])

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT payload = %s::jsonb, status FROM queueadmin_jobrecord WHERE job_id = %s",
            [stored, "exact-json"],
        )
        payload_kept, status = cursor.fetchone()
    assert status == JobStatus.RUNNING
    assert payload_kept is True


def _job_events(job_id: str) -> list[dict]:
    text = "quote ' double \" backslash \\ tab \t 会议 café 🎉 {NULL} ,"
    base = {"job": job_id, "actor": "awkward_actor", "queue": "emails"}
    return [
        {**base, "kind": "enqueued", "ts": 1796445818.086734, "priority": 2, "eta": 1796445900.5,
         "payload": {"text": text, "n": [1, 2.5, None, 1e-05, 1000000000000000.0]},
         "options": {"envelope": {"idempotency_key": text}}, "idempotency_key": text[:40],
         "correlation_id": "corr", "user_id": "7", "broker_message_id": "normal:x"},
        {**base, "kind": "started", "ts": 1796445901.0000005, "attempt": 1, "wait_ms": 2},
        {**base, "kind": "progress", "ts": 1796445901.25, "percent": 50, "message": "x" * 255},
        {**base, "kind": "failed", "ts": 1796445902.75, "attempt": 1, "duration_ms": 3,
         "error": text, "traceback": text * 50},
        {**base, "kind": "retry_scheduled", "ts": 1796445902.8, "eta": 1796445903.0},
    ]


def _stored_fields(job_id: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM queueadmin_jobrecord WHERE job_id = %s", [job_id])
        names = [column.name for column in cursor.description]
        row = dict(zip(names, cursor.fetchone()))
    del row["id"], row["job_id"]
    return row


@postgresql_only
def test_json_document_and_arrays_store_alike(broker):
    # A float in an integer column sends its batch as one array per column.
    float_delay = {"job": "float-delay", "kind": "retry_scheduled", "ts": 5.0, "actor": "a",
                   "queue": "emails", "delay_ms": 2.5}
    apply_events([*_job_events("through-arrays"), float_delay])
    apply_events(_job_events("through-document"))

    through_arrays = _stored_fields("through-arrays")
    through_document = _stored_fields("through-document")

    assert through_arrays["status"] == JobStatus.RETRYING
    assert through_document == through_arrays
    # PostgreSQL's float8 to integer cast rounds half to even.
    assert JobRecord.objects.get(job_id="float-delay").next_retry_delay_ms == 2


@postgresql_only
def test_non_finite_number_rejected(broker):
    event = {"job": "nan-wait", "kind": "started", "ts": 5.0, "actor": "a", "queue": "emails",
             "attempt": 1, "wait_ms": float("nan")}

    with pytest.raises(DatabaseError):
        apply_events([event])

    assert not JobRecord.objects.filter(job_id="nan-wait").exists()


def test_numeric_job_id_written(broker):
    base = {"job": 12345, "actor": "a", "queue": "emails"}
    apply_events([{**base, "kind": "enqueued", "ts": 5.0}])
    apply_events([{**base, "kind": "started", "ts": 6.0, "attempt": 1}])

    record = JobRecord.objects.get(job_id="12345")

    assert record.status == JobStatus.RUNNING
    assert record.attempts == 1
