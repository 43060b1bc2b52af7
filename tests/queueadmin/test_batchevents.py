"""Compact "enqueued" events expand into the events of single sends."""

from __future__ import annotations

from dramatiq import Message

from queueadmin.batchevents import expand

TS = 1_700_000_000.5


def _batch_event(jobs: list[list], *, options: dict | None = None) -> dict:
    # A batch event as producers of earlier versions wrote it for a bulk send.
    return {
        "kind": "enqueued_batch",
        "ts": TS,
        "actor": "note_job",
        "queue": "meetings",
        "priority": 0,
        "options": options
        if options is not None
        else {"envelope": {"correlation_id": "c-1", "user_id": None}, "priority": "normal"},
        "correlation_id": "c-1",
        "user_id": None,
        "eta": None,
        "jobs": jobs,
    }


def _enqueued(job_id: str, key: str | None, options: dict) -> dict:
    return {
        "kind": "enqueued",
        "job": job_id,
        "ts": TS,
        "actor": "note_job",
        "queue": "meetings",
        "priority": 0,
        "payload": {"key": job_id},
        "options": options,
        "broker_message_id": f"normal:{job_id}:abc",
        "idempotency_key": key,
        "correlation_id": "c-1",
        "user_id": None,
        "eta": None,
    }


def test_batch_event_expands_into_each_job_event():
    ids = ["job-1", "job-2"]
    event = _batch_event([[job_id, {"key": job_id}, f"normal:{job_id}:abc", f"key-{job_id}"] for job_id in ids])

    expanded = list(expand(event))

    assert expanded == [
        _enqueued(
            job_id,
            f"key-{job_id}",
            {
                "envelope": {"idempotency_key": f"key-{job_id}", "correlation_id": "c-1", "user_id": None},
                "priority": "normal",
            },
        )
        for job_id in ids
    ]


def test_batch_event_without_envelope_keeps_none():
    # Messages sent without the project's envelope (plain Dramatiq messages).
    event = _batch_event([["job-1", {"key": "job-1"}, "normal:job-1:abc", None]], options={"priority": "normal"})

    assert list(expand(event)) == [_enqueued("job-1", None, {"priority": "normal"})]


def test_sent_event_expands_from_its_message():
    message = Message(
        queue_name="meetings",
        actor_name="note_job",
        args=({"key": "job-1"},),
        kwargs={},
        options={
            "envelope": {"idempotency_key": "k-1", "correlation_id": "c-1", "user_id": "7"},
            "priority": "normal",
            "redis_message_id": "normal:job-1:abc",
        },
        message_id="job-1",
        message_timestamp=1_700_000_000_000,
    )
    event = {"kind": "sent", "ts": TS, "eta": TS + 60, "message": message.asdict()}

    (expanded,) = expand(event)

    assert expanded == {
        "kind": "enqueued",
        "job": "job-1",
        "ts": TS,
        "actor": "note_job",
        "queue": "meetings",
        "priority": 0,
        "payload": {"key": "job-1"},
        "options": {
            "envelope": {"idempotency_key": "k-1", "correlation_id": "c-1", "user_id": "7"},
            "priority": "normal",
        },
        "broker_message_id": "normal:job-1:abc",
        "idempotency_key": "k-1",
        "correlation_id": "c-1",
        "user_id": "7",
        "eta": TS + 60,
    }


def test_other_events_pass_through():
    event = {"kind": "started", "job": "job-1", "ts": 1.0}

    assert list(expand(event)) == [event]
