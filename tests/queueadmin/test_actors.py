"""Job actors in a real worker: typed payloads and payloads that fail validation."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from queueadmin.envelope import JobEnvelope
from queueadmin.models import JobRecord, JobStatus
from tests.helpers import wait_until
from tests.testapp.models import Execution
from tests.testapp.tasks import echo_typed_job, flaky_job, typed_job

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = "会议 café"


def finished_record(job_id: str, timeout: float = 60) -> JobRecord:
    def finished() -> JobRecord | None:
        record = JobRecord.objects.filter(job_id=job_id).first()
        if record and record.status in (JobStatus.SUCCEEDED, JobStatus.DEAD):
            return record
        return None

    return wait_until(finished, timeout=timeout)


def send_raw(actor, payload: object) -> str:
    """Send a message that skips enqueue-side validation, as a foreign producer could."""
    envelope = JobEnvelope(idempotency_key=uuid.uuid4().hex, correlation_id="raw")
    message = actor.actor.send_with_options(args=(payload,), envelope=envelope.to_option())
    return message.message_id


def test_typed_payload_types_arrive(worker) -> None:
    job_id = typed_job.enqueue(
        key="types",
        when=datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc),
        day=date(2026, 3, 1),
        ident=uuid.uuid4(),
        amount=Decimal("19.99"),
        note=TEXT,
        extra={"at": datetime(2026, 3, 2, 8, 0)},
    )

    record = finished_record(job_id)

    assert record.status == JobStatus.SUCCEEDED
    stored = Execution.objects.get(key__startswith="types|").key
    assert stored == f"types|datetime,date,UUID,Decimal,str,datetime|{TEXT}"


def test_typed_payload_values_arrive(worker) -> None:
    offset = timezone(timedelta(hours=-7))
    sent = {
        "when": datetime(2026, 3, 1, 9, 30, 15, 250000, tzinfo=offset),
        "day": date(2026, 2, 28),
        "ident": uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e"),
        "amount": Decimal("1234.5600"),
        "note": TEXT,
    }
    extra = {"span": timedelta(minutes=90), "raw": b"\x00\x01", "pair": (1, "b")}

    job_id = echo_typed_job.enqueue(key="echo", extra=extra, **sent)

    assert finished_record(job_id).status == JobStatus.SUCCEEDED
    stored = set(Execution.objects.filter(key__startswith="echo|").values_list("key", flat=True))
    for name, value in {**sent, **{f"extra.{k}": v for k, v in extra.items()}}.items():
        assert f"echo|{name}|{type(value).__name__}|{value}" in stored


def test_invalid_payload_dead_at_once(worker, redis_client, settings) -> None:
    job_id = send_raw(typed_job, {"key": 1})

    record = finished_record(job_id)

    assert record.status == JobStatus.DEAD
    assert record.attempts == 1
    assert "InvalidPayloadError" in record.last_error
    assert "when" in record.last_error
    assert "key" in record.last_error
    assert not Execution.objects.exists()
    dead_letters = redis_client.zrange(f"{settings.QUEUE_REDIS_NAMESPACE}:meetings.XQ", 0, -1)
    assert len(dead_letters) == 1


def test_invalid_payload_worker_continues(worker) -> None:
    bad_job_id = send_raw(typed_job, "not an object")
    assert finished_record(bad_job_id).status == JobStatus.DEAD

    good_job_id = flaky_job.enqueue(key="after-bad")

    assert finished_record(good_job_id).status == JobStatus.SUCCEEDED
    assert worker.is_running()
    assert Execution.objects.filter(key="after-bad").count() == 1


@pytest.mark.parametrize(
    "bad_value",
    [
        {"$type": "no-such-type", "value": 1},
        {"$type": "datetime", "value": "yesterday"},
    ],
    ids=["unknown_tag", "bad_datetime"],
)
def test_undecodable_payload_dead_at_once(worker, bad_value: dict) -> None:
    payload = {
        "key": "undecodable",
        "when": bad_value,
        "day": "2026-03-01",
        "ident": str(uuid.uuid4()),
        "amount": "1",
        "note": "n",
    }

    record = finished_record(send_raw(typed_job, payload))

    assert record.status == JobStatus.DEAD
    assert record.attempts == 1
    assert "InvalidPayloadError" in record.last_error


def test_worker_attempts_from_environment(worker_factory) -> None:
    worker_factory(QUEUE_DEFAULT_ATTEMPTS="2")

    record = finished_record(flaky_job.enqueue(key="two-attempts", fail_times=99))

    assert record.status == JobStatus.DEAD
    assert record.attempts == 2
    assert Execution.objects.filter(key="two-attempts").count() == 2
