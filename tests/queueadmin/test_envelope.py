"""Enqueue-side checks: payload validation, size limit and the job envelope."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import dramatiq
import pytest
import redis
from django.conf import settings
from django.db import transaction

from queueadmin.context import new_correlation_id
from queueadmin.encoding import decode_value, encode_message
from queueadmin.enqueue import EnqueueRequest, build_envelope_option, build_message
from queueadmin.envelope import ENVELOPE_OPTION, JobEnvelope
from queueadmin.errors import (
    InvalidPayloadError,
    PayloadTooLargeError,
    UnencodableValueError,
)
from queueadmin.ids import new_job_ids
from queueadmin.models import JobRecord, JobStatus
from queueadmin.records import flush_job_events
from tests.testapp.tasks import flaky_job, typed_job

pytestmark = pytest.mark.django_db(transaction=True)


def typed_fields(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "key": "envelope",
        "when": datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc),
        "day": date(2026, 3, 1),
        "ident": uuid.UUID(int=7),
        "amount": Decimal("1.50"),
        "note": "plain",
    }
    fields.update(overrides)
    return fields


def queue_key(queue: str = "meetings") -> str:
    return f"{settings.QUEUE_REDIS_NAMESPACE}:{queue}"


def stored_messages(redis_client: redis.Redis, queue: str = "meetings") -> list[dramatiq.Message]:
    """Return the messages waiting in ``queue``, decoded as the worker reads them."""
    raw_messages = redis_client.hvals(f"{queue_key(queue)}.msgs")
    return [dramatiq.Message.decode(raw) for raw in raw_messages]


def stored_message(redis_client: redis.Redis, job_id: str) -> dramatiq.Message:
    matches = [m for m in stored_messages(redis_client) if m.message_id == job_id]
    assert len(matches) == 1, f"job {job_id} is not in the queue once: {matches}"
    return matches[0]


# Validation at enqueue


def test_enqueue_invalid_value_names_field(broker, redis_client) -> None:
    with pytest.raises(InvalidPayloadError) as caught:
        typed_job.enqueue(**typed_fields(when="next tuesday"))

    message = str(caught.value)
    assert "when" in message
    assert "'next tuesday'" in message
    assert "typed_job" in message
    assert [field for field, _ in caught.value.errors] == ["when"]
    assert redis_client.llen(queue_key()) == 0


def test_enqueue_missing_field_named(broker, redis_client) -> None:
    fields = typed_fields()
    del fields["day"]

    with pytest.raises(InvalidPayloadError) as caught:
        typed_job.enqueue(**fields)

    assert "day" in str(caught.value)
    assert "Field required" in str(caught.value)
    assert redis_client.llen(queue_key()) == 0


def test_enqueue_wrong_type_named(broker) -> None:
    with pytest.raises(InvalidPayloadError) as caught:
        flaky_job.enqueue(key="k", fail_times="often")

    assert "fail_times" in str(caught.value)
    assert "'often'" in str(caught.value)


def test_enqueue_unencodable_object_rejected(broker, redis_client) -> None:
    with pytest.raises(UnencodableValueError) as caught:
        typed_job.enqueue(**typed_fields(extra={"obj": object()}))

    assert "payload.extra.obj" in str(caught.value)
    assert redis_client.llen(queue_key()) == 0
    assert not JobRecord.objects.exists()


def test_enqueue_unencodable_metadata_rejected(broker, redis_client) -> None:
    with pytest.raises(UnencodableValueError) as caught:
        flaky_job.enqueue(key="k", metadata={"when": {1, 2}})

    assert "metadata.when" in str(caught.value)
    assert redis_client.llen(queue_key()) == 0


def test_enqueue_long_correlation_rejected(broker, redis_client) -> None:
    with pytest.raises(InvalidPayloadError) as caught:
        flaky_job.enqueue(key="k", correlation_id="c" * 200)

    assert "correlation_id" in str(caught.value)
    assert redis_client.llen(queue_key()) == 0


def test_enqueue_oversized_payload_rejected(broker, redis_client, settings) -> None:
    note = "x" * (settings.QUEUE_MAX_PAYLOAD_BYTES + 1)

    with pytest.raises(PayloadTooLargeError) as caught:
        typed_job.enqueue(**typed_fields(note=note))

    assert caught.value.limit == settings.QUEUE_MAX_PAYLOAD_BYTES
    assert caught.value.size > settings.QUEUE_MAX_PAYLOAD_BYTES
    assert "QUEUE_MAX_PAYLOAD_BYTES" in str(caught.value)
    assert redis_client.llen(queue_key()) == 0
    assert redis_client.hlen(f"{queue_key()}.msgs") == 0
    assert not JobRecord.objects.exists()


def test_enqueue_lowered_limit_applies(broker, redis_client, settings) -> None:
    settings.QUEUE_MAX_PAYLOAD_BYTES = 2048

    with pytest.raises(PayloadTooLargeError):
        typed_job.enqueue(**typed_fields(note="y" * 3000))

    assert redis_client.llen(queue_key()) == 0


def test_enqueue_payload_under_limit_sent(broker, redis_client, settings) -> None:
    settings.QUEUE_MAX_PAYLOAD_BYTES = 4096

    job_id = typed_job.enqueue(**typed_fields(note="y" * 3000))

    assert stored_message(redis_client, job_id).message_id == job_id


# The envelope on the message


def test_envelope_defaults(broker, redis_client) -> None:
    before = datetime.now(timezone.utc)

    job_id = flaky_job.enqueue(key="defaults")

    message = stored_message(redis_client, job_id)
    envelope = JobEnvelope.from_option(message.options[ENVELOPE_OPTION])
    assert envelope.idempotency_key == job_id
    assert len(envelope.correlation_id) == 32
    assert envelope.user_id is None
    assert envelope.metadata == {}
    assert envelope.created_at.tzinfo is not None
    assert before - timedelta(seconds=5) <= envelope.created_at
    assert envelope.created_at <= datetime.now(timezone.utc) + timedelta(seconds=5)


def test_envelope_given_fields(broker, redis_client) -> None:
    sent_at = datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc)

    job_id = flaky_job.enqueue(
        key="given",
        idempotency_key="import-42",
        correlation_id="corr-1",
        user_id=17,
        metadata={"source": "test", "sent_at": sent_at, "tags": ("a", "b")},
    )

    envelope = JobEnvelope.from_option(stored_message(redis_client, job_id).options["envelope"])
    assert envelope.idempotency_key == "import-42"
    assert envelope.correlation_id == "corr-1"
    assert envelope.user_id == "17"
    assert envelope.metadata["source"] == "test"
    assert envelope.metadata["sent_at"] == sent_at
    assert envelope.metadata["tags"] == ("a", "b")


def test_envelope_on_job_record(broker) -> None:
    job_id = flaky_job.enqueue(key="record", idempotency_key="idem-1", correlation_id="corr-2")

    flush_job_events(wait=True)
    record = JobRecord.objects.get(job_id=job_id)
    assert record.status == JobStatus.ENQUEUED
    assert record.actor == "flaky_job"
    assert record.queue == "meetings"
    assert record.idempotency_key == "idem-1"
    assert record.correlation_id == "corr-2"
    assert record.payload == {"key": "record", "fail_times": 0}


def test_envelope_payload_encoded(broker, redis_client) -> None:
    fields = typed_fields(note="会议 café")

    job_id = typed_job.enqueue(**fields)

    payload = decode_value(stored_message(redis_client, job_id).args[0])
    assert payload["when"] == fields["when"]
    assert payload["ident"] == fields["ident"]
    assert payload["amount"] == fields["amount"]
    assert payload["note"] == "会议 café"


# The envelope option built without the model matches the model's


ENVELOPE_CASES = [
    pytest.param(EnqueueRequest(), id="defaults"),
    pytest.param(
        EnqueueRequest(
            idempotency_key="k" * 255,
            correlation_id="c" * 128,
            user_id="u" * 128,
            metadata={"source": "test", "count": 3},
        ),
        id="maximum-lengths",
    ),
    pytest.param(
        EnqueueRequest(metadata={"sent_at": datetime(2026, 5, 4, tzinfo=timezone.utc)}),
        id="tagged-metadata",
    ),
    pytest.param(EnqueueRequest(metadata={"$type": "not a tag"}), id="tag-key-metadata"),
]


@pytest.mark.parametrize("request_", ENVELOPE_CASES)
def test_envelope_option_matches_model(request_: EnqueueRequest) -> None:
    option = build_envelope_option(flaky_job, "job-1", request_)

    model_option = JobEnvelope(
        idempotency_key=option["idempotency_key"],
        correlation_id=option["correlation_id"],
        user_id=request_.user_id,
        metadata=request_.metadata,
    ).to_option()
    assert list(option) == list(model_option)
    for field in ("idempotency_key", "correlation_id", "user_id", "metadata"):
        assert option[field] == model_option[field], field
    assert datetime.fromisoformat(option["created_at"]).tzinfo is not None


INVALID_ENVELOPE_CASES = [
    pytest.param(EnqueueRequest(idempotency_key="k" * 256), "idempotency_key", id="long-key"),
    pytest.param(EnqueueRequest(correlation_id="c" * 129), "correlation_id", id="long-correlation"),
    pytest.param(EnqueueRequest(user_id="u" * 129), "user_id", id="long-user"),
    pytest.param(EnqueueRequest(idempotency_key=42), "idempotency_key", id="integer-key"),
    pytest.param(EnqueueRequest(metadata={1: "one"}), "metadata.1.[key]", id="integer-metadata-key"),
    pytest.param(EnqueueRequest(metadata=["a"]), "metadata", id="list-metadata"),
]


@pytest.mark.parametrize(("request_", "field"), INVALID_ENVELOPE_CASES)
def test_envelope_option_rejects_as_model(request_: EnqueueRequest, field: str) -> None:
    with pytest.raises(InvalidPayloadError) as caught:
        build_envelope_option(flaky_job, "job-1", request_)

    assert [name for name, _ in caught.value.errors] == [field]
    assert caught.value.actor_name == "flaky_job"


def test_envelope_metadata_copied(broker, redis_client) -> None:
    metadata = {"source": "test"}

    with transaction.atomic():
        job_id = flaky_job.enqueue(key="copied", metadata=metadata)
        metadata["source"] = "changed after the enqueue"

    envelope = stored_message(redis_client, job_id).options[ENVELOPE_OPTION]
    assert envelope["metadata"] == {"source": "test"}


# The size check on the bytes the broker sends


def test_oversized_enqueue_claims_no_key(broker, redis_client, settings) -> None:
    settings.QUEUE_MAX_PAYLOAD_BYTES = 2048

    with pytest.raises(PayloadTooLargeError) as caught:
        typed_job.enqueue(**typed_fields(note="y" * 3000), idempotency_key="too-big")

    assert "typed_job" in str(caught.value)
    assert caught.value.size > 3000
    idempotency_key = f"{settings.QUEUE_REDIS_NAMESPACE}:idem:typed_job:too-big"
    assert redis_client.exists(idempotency_key) == 0
    assert redis_client.hlen(f"{queue_key()}.msgs") == 0
    assert redis_client.llen(f"{queue_key()}.wake") == 0
    flush_job_events(wait=True)
    assert not JobRecord.objects.exists()


def test_oversized_enqueue_in_transaction_rejected(broker, redis_client, settings) -> None:
    settings.QUEUE_MAX_PAYLOAD_BYTES = 2048

    with transaction.atomic():
        with pytest.raises(PayloadTooLargeError) as caught:
            typed_job.enqueue(**typed_fields(note="y" * 3000))

    assert "typed_job" in str(caught.value)
    assert redis_client.hlen(f"{queue_key()}.msgs") == 0
    assert not JobRecord.objects.exists()


def test_send_one_checks_encoded_size(broker, redis_client) -> None:
    small = build_message(flaky_job, flaky_job.validate(key="small"), EnqueueRequest())
    large = build_message(flaky_job, flaky_job.validate(key="l" * 3000), EnqueueRequest())
    limit = len(encode_message(large)) - 1

    with pytest.raises(PayloadTooLargeError) as caught:
        broker.send_one(large, idempotency_key="flaky_job:large", max_message_bytes=limit)

    assert "flaky_job" in str(caught.value)
    assert caught.value.limit == limit
    assert caught.value.size == len(encode_message(large))
    assert redis_client.exists(f"{settings.QUEUE_REDIS_NAMESPACE}:idem:flaky_job:large") == 0
    assert redis_client.hlen(f"{queue_key()}.msgs") == 0
    assert broker.send_one(small, idempotency_key="flaky_job:small", max_message_bytes=limit) is None
    assert stored_message(redis_client, small.message_id).message_id == small.message_id


# Random ids


def test_job_ids_are_uuid4_strings() -> None:
    job_ids = new_job_ids(50)

    assert len(set(job_ids)) == 50
    for job_id in job_ids:
        parsed = uuid.UUID(job_id)
        assert str(parsed) == job_id
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_correlation_ids_are_uuid4_hex() -> None:
    correlation_ids = [new_correlation_id() for _ in range(50)]

    assert len(set(correlation_ids)) == 50
    for correlation_id in correlation_ids:
        parsed = uuid.UUID(correlation_id)
        assert parsed.hex == correlation_id
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
