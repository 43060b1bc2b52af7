"""The batch event of jobs sent together expands into the events of single sends."""

from __future__ import annotations

from queueadmin.batchevents import MAX_JOBS_PER_EVENT, batch_events, expand


def _fields(job_id: str, key: str, *, user_id: str | None = None) -> dict:
    return {
        "ts": 1_700_000_000.5,
        "actor": "note_job",
        "queue": "meetings",
        "priority": 0,
        "payload": {"key": job_id},
        "options": {
            "envelope": {"idempotency_key": key, "correlation_id": "c-1", "user_id": user_id},
            "priority": "normal",
        },
        "broker_message_id": f"normal:{job_id}:abc",
        "idempotency_key": key,
        "correlation_id": "c-1",
        "user_id": user_id,
        "eta": None,
    }


def test_expand_gives_back_each_job_event():
    ids = [f"job-{i}" for i in range(3)]
    fields = [_fields(job_id, f"key-{job_id}") for job_id in ids]

    (event,) = batch_events(ids, fields)
    expanded = list(expand(event))

    assert expanded == [{"kind": "enqueued", "job": job_id, **item} for job_id, item in zip(ids, fields)]


def test_jobs_that_differ_get_no_batch():
    fields = [_fields("job-1", "k1"), _fields("job-2", "k2", user_id="7")]

    assert batch_events(["job-1", "job-2"], fields) is None


def test_batch_split_by_size():
    ids = [f"job-{i}" for i in range(MAX_JOBS_PER_EVENT + 1)]

    events = batch_events(ids, [_fields(job_id, job_id) for job_id in ids])

    assert [len(event["jobs"]) for event in events] == [MAX_JOBS_PER_EVENT, 1]
    assert [item["job"] for event in events for item in expand(event)] == ids


def test_other_events_pass_through():
    event = {"kind": "started", "job": "job-1", "ts": 1.0}

    assert list(expand(event)) == [event]


def test_expand_keeps_missing_envelope():
    # A message sent without the project's envelope (a plain Dramatiq message).
    ids = ["job-1", "job-2"]
    fields = [
        {
            **_fields(job_id, job_id),
            "options": {"priority": "normal"},
            "idempotency_key": None,
            "correlation_id": None,
        }
        for job_id in ids
    ]

    (event,) = batch_events(ids, fields)
    expanded = list(expand(event))

    assert [item["options"] for item in expanded] == [{"priority": "normal"}] * 2
    assert expanded == [{"kind": "enqueued", "job": job_id, **item} for job_id, item in zip(ids, fields)]
