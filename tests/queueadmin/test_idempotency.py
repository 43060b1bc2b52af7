"""Idempotency keys at enqueue and at execution, with real Redis and workers."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.db import connection, transaction
from dramatiq import Message

from queueadmin import idempotency
from queueadmin.enqueue import EnqueueRequest, build_message
from queueadmin.middleware.idempotency import IdempotentExecution
from queueadmin.models import JobCompletion, JobRecord, JobStatus
from queueadmin.records import flush_job_events
from tests.helpers import wait_until
from tests.testapp.models import Execution
from tests.testapp.tasks import flaky_job, record_once, short_ttl_job, slow_job

pytestmark = pytest.mark.django_db(transaction=True)


def _record_with_status(job_id: str, *statuses: str) -> JobRecord:
    def found():
        return JobRecord.objects.filter(job_id=job_id, status__in=statuses).first()

    return wait_until(found, timeout=45)


def _record_with_duplicate(job_id: str) -> JobRecord:
    """Wait until the record notes a skipped duplicate delivery, and return it."""
    return wait_until(
        lambda: JobRecord.objects.filter(job_id=job_id, last_error="duplicate").first(),
        timeout=30,
    )


def _send_directly(actor, idempotency_key: str, **fields) -> str:
    """Enqueue past the enqueue-time check, as a second producer or a redelivery would."""
    request = EnqueueRequest(idempotency_key=idempotency_key)
    message = build_message(actor, actor.validate(**fields), request)
    actor.actor.broker.enqueue(message)
    return message.message_id


def test_same_key_from_50_threads_one_message(broker, redis_client):
    job_ids: list[str] = []
    barrier = threading.Barrier(50)

    def enqueue() -> None:
        barrier.wait()
        try:
            job_ids.append(record_once.enqueue(key="race", idempotency_key="race-key"))
        finally:
            connection.close()

    threads = [threading.Thread(target=enqueue) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(job_ids) == 50
    assert len(set(job_ids)) == 1
    assert redis_client.llen(f"{settings.QUEUE_REDIS_NAMESPACE}:meetings") == 1
    flush_job_events(wait=True)
    assert JobRecord.objects.filter(idempotency_key="race-key").count() == 1


def test_known_key_returns_existing_id(broker):
    first = record_once.enqueue(key="again", idempotency_key="again-key")

    second = record_once.enqueue(key="again", idempotency_key="again-key")
    with transaction.atomic():
        inside_transaction = record_once.enqueue(key="again", idempotency_key="again-key")

    assert second == first
    assert inside_transaction == first


def test_keys_namespaced_per_actor_with_expiry(broker, redis_client):
    record_once.enqueue(key="a", idempotency_key="shared-key")
    other_actor_job = short_ttl_job.enqueue(key="b", idempotency_key="shared-key")
    namespace = settings.QUEUE_REDIS_NAMESPACE

    default_ttl = redis_client.ttl(idempotency.enqueue_key(namespace, "record_once", "shared-key"))
    actor_ttl = redis_client.ttl(idempotency.enqueue_key(namespace, "short_ttl_job", "shared-key"))

    assert other_actor_job != ""
    assert settings.QUEUE_IDEMPOTENCY_TTL_SECONDS - 5 <= default_ttl <= 86400
    assert 0 < actor_ttl <= 5


def test_retry_not_treated_as_duplicate(worker):
    job_id = flaky_job.enqueue(key="retry-key", fail_times=1, idempotency_key="retry-key")

    record = _record_with_status(job_id, JobStatus.SUCCEEDED, JobStatus.DEAD)

    assert record.status == JobStatus.SUCCEEDED
    assert record.attempts == 2
    assert Execution.objects.filter(key="retry-key").count() == 2


def test_concurrent_duplicates_run_once(worker_factory):
    worker = worker_factory(threads=4)
    first = _send_directly(slow_job, "slow-key", key="slow", seconds=1.5)
    second = _send_directly(slow_job, "slow-key", key="slow", seconds=1.5)

    records = [
        _record_with_status(job_id, JobStatus.SUCCEEDED, JobStatus.SKIPPED)
        for job_id in (first, second)
    ]

    statuses = sorted(record.status for record in records)
    assert statuses == [JobStatus.SKIPPED, JobStatus.SUCCEEDED]
    skipped = next(record for record in records if record.status == JobStatus.SKIPPED)
    assert skipped.last_error == "duplicate"
    assert Execution.objects.filter(key="slow").count() == 1
    assert worker.count("is running idempotency key") >= 1


def test_redelivered_message_skipped(worker):
    message = build_message(
        record_once, record_once.validate(key="redeliver"), EnqueueRequest(idempotency_key="re")
    )
    record_once.actor.broker.enqueue(message)
    _record_with_status(message.message_id, JobStatus.SUCCEEDED)

    # The same message again, as after a crash between the work and the ack.
    record_once.actor.broker.enqueue(message)

    record = _record_with_duplicate(message.message_id)
    assert record.status == JobStatus.SUCCEEDED
    assert worker.count("was completed by") == 1
    assert Execution.objects.filter(key="redeliver").count() == 1


def test_completion_row_blocks_rerun_without_redis_marker(worker, redis_client):
    message = build_message(
        record_once, record_once.validate(key="db-marker"), EnqueueRequest(idempotency_key="dbm")
    )
    record_once.actor.broker.enqueue(message)
    _record_with_status(message.message_id, JobStatus.SUCCEEDED)
    assert JobCompletion.objects.filter(actor="record_once", idempotency_key="dbm").exists()

    # A crash after the commit but before the Redis marker leaves no marker.
    redis_client.delete(idempotency.run_key(settings.QUEUE_REDIS_NAMESPACE, "record_once", "dbm"))
    record_once.actor.broker.enqueue(message)

    record = _record_with_duplicate(message.message_id)
    assert record.status == JobStatus.SUCCEEDED
    assert worker.count("was completed by") == 1
    assert Execution.objects.filter(key="db-marker").count() == 1


def test_dead_letter_retry_runs_despite_key(worker):
    message = build_message(
        slow_job, slow_job.validate(key="rerun"), EnqueueRequest(idempotency_key="rerun")
    )
    slow_job.actor.broker.enqueue(message)
    wait_until(lambda: Execution.objects.filter(key="rerun").count() == 1, timeout=30)

    rerun = message.copy(options={**message.options, "retried_from_dead_letter": True})
    slow_job.actor.broker.enqueue(rerun)

    wait_until(lambda: Execution.objects.filter(key="rerun").count() == 2, timeout=30)
    assert worker.count("was completed by") == 0


@pytest.mark.parametrize("envelope", [{"idempotency_key": 7}, "not a dict", None])
def test_key_without_text_is_job_id(envelope):
    # The fetch script claims the job id as the key in these cases too.
    options = {} if envelope is None else {"envelope": envelope}
    message = Message(queue_name="meetings", actor_name="note_job", args=(), kwargs={}, options=options)

    assert IdempotentExecution._key(message) == message.message_id
