"""Correlation ids from HTTP requests into jobs, from jobs into jobs, and in logs."""

from __future__ import annotations

import json

import pytest
from dramatiq import Message

from queueadmin.context import current_job
from queueadmin.middleware.context import JobContextMiddleware
from queueadmin.models import JobRecord, JobStatus
from queueadmin.records import flush_job_events
from tests.helpers import wait_until
from tests.testapp.tasks import parent_job

pytestmark = pytest.mark.django_db(transaction=True)

CONTEXT_FIELDS = ("job_id", "actor", "queue", "attempt", "correlation_id")


@pytest.mark.urls("tests.testapp.urls")
def test_request_header_echoed_and_carried(client, broker):
    response = client.get("/enqueue/", headers={"X-Correlation-ID": "req-123"})

    assert response.status_code == 200
    assert response["X-Correlation-ID"] == "req-123"
    flush_job_events(wait=True)
    record = JobRecord.objects.get(job_id=response.json()["job_id"])
    assert record.correlation_id == "req-123"


@pytest.mark.urls("tests.testapp.urls")
@pytest.mark.parametrize("header", [None, "has spaces", "x" * 129])
def test_missing_or_invalid_header_replaced(client, broker, header):
    headers = {"X-Correlation-ID": header} if header else {}

    response = client.get("/enqueue/", headers=headers)

    correlation_id = response["X-Correlation-ID"]
    assert correlation_id != header
    assert len(correlation_id) == 32
    flush_job_events(wait=True)
    record = JobRecord.objects.get(job_id=response.json()["job_id"])
    assert record.correlation_id == correlation_id


def _child_record() -> JobRecord | None:
    return JobRecord.objects.filter(
        actor="child_job", status=JobStatus.SUCCEEDED, payload__key="family:child"
    ).first()


def test_job_enqueued_by_job_inherits_id(worker):
    parent_id = parent_job.enqueue(key="family", correlation_id="corr-family")

    child = wait_until(_child_record, timeout=30)

    assert child.correlation_id == "corr-family"
    assert JobRecord.objects.get(job_id=parent_id).correlation_id == "corr-family"


def test_json_log_lines_carry_job_context(worker_factory):
    # Debug level, for the queue machinery's "Enqueued job" line of the child job.
    worker = worker_factory(LOG_FORMAT="json", LOG_LEVEL="DEBUG")
    parent_id = parent_job.enqueue(key="logged", correlation_id="corr-logs")
    wait_until(lambda: worker.count("Child job ran for logged:child") == 1, timeout=30)

    entries = [json.loads(line) for line in list(worker.lines) if line.startswith("{")]
    parent_lines = [entry for entry in entries if entry.get("job_id") == parent_id]
    messages = [entry["message"] for entry in parent_lines]

    assert any(message.startswith("Parent job enqueues") for message in messages)
    assert any(message.startswith("Enqueued job") for message in messages)
    for entry in parent_lines:
        for field in CONTEXT_FIELDS:
            assert field in entry, (field, entry)
        assert entry["actor"] == "parent_job"
        assert entry["queue"] == "emails"
        assert entry["attempt"] == 1
        assert entry["correlation_id"] == "corr-logs"
    child_lines = [entry for entry in entries if entry["message"].startswith("Child job ran")]
    assert child_lines[0]["correlation_id"] == "corr-logs"


def test_invalid_envelope_fields_left_out():
    # A message sent by other code may carry any JSON value in the envelope.
    message = Message(
        queue_name="meetings",
        actor_name="parent_job",
        args=({},),
        kwargs={},
        options={"envelope": {"correlation_id": 123, "user_id": "u" * 500}},
    )
    middleware = JobContextMiddleware()

    middleware.before_process_message(None, message)
    try:
        context = current_job.get()
    finally:
        middleware.after_process_message(None, message)

    assert isinstance(context.correlation_id, str)
    assert context.correlation_id != "123"
    assert context.user_id is None
    assert context.job_id == message.message_id
