"""Compact forms of "enqueued" job events, and their expansion into "enqueued" events.

Two forms stand for "enqueued" events in the event list: a batch event for
many jobs sent together, written by the tracking middleware, and a "sent"
event, which the broker's send script writes beside each message it sends:

    {"kind": "sent", "ts": ..., "eta": ..., "message": {... the message as sent ...}}

The fields of the "enqueued" event are read from the message, as the
tracking middleware reads them (``tracking.enqueued_fields``).

A bulk send of N jobs of one actor would otherwise encode N "enqueued"
events that differ only in the job id, the payload, the broker's message id
and the idempotency key. The batch event keeps the shared fields once:

    {"kind": "enqueued_batch", "ts": ..., "actor": ..., "queue": ..., "priority": ...,
     "options": {... the envelope without its idempotency key ...},
     "correlation_id": ..., "user_id": ..., "eta": ...,
     "jobs": [[job id, payload, broker message id, idempotency key], ...]}

The record writer expands both back (``expand``) before folding events into
records, so a record cannot tell how its job was sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from dramatiq import Message

from queueadmin.envelope import ENVELOPE_OPTION

#: Event kind of a batch.
BATCH_KIND = "enqueued_batch"
#: Event kind that the send script writes for each message it sends.
SENT_KIND = "sent"

#: Maximum number of jobs in one batch event, so that one event never outgrows a record-writing batch.
MAX_JOBS_PER_EVENT = 1000

_KEY_FIELD = "idempotency_key"


def _shared_part(fields: dict[str, Any]) -> tuple[Any, ...]:
    """Return what must be equal for two jobs' "enqueued" fields to share one batch."""
    options = fields["options"]
    envelope = options.get(ENVELOPE_OPTION)
    if envelope is not None:
        # A message without an envelope keeps none, so its record matches a single send.
        options = {**options, ENVELOPE_OPTION: {k: v for k, v in envelope.items() if k != _KEY_FIELD}}
    return (fields["actor"], fields["queue"], fields["priority"], fields["eta"], options,
            fields["correlation_id"], fields["user_id"])


def batch_events(job_ids: Sequence[str], fields: Sequence[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Return batch events for jobs with the given "enqueued" fields, or None when they differ.

    ``fields`` are ``tracking.enqueued_fields`` of each job, all with the same
    ``ts``. Returns None unless every job shares actor, queue, priority, due
    time, correlation id, user id and options other than the idempotency key.
    """
    shared = _shared_part(fields[0])
    if any(_shared_part(item) != shared for item in fields[1:]):
        return None
    actor, queue, priority, eta, options, correlation_id, user_id = shared
    jobs = [
        [job_id, item["payload"], item["broker_message_id"], item[_KEY_FIELD]]
        for job_id, item in zip(job_ids, fields)
    ]
    return [
        {
            "kind": BATCH_KIND,
            "ts": fields[0]["ts"],
            "actor": actor,
            "queue": queue,
            "priority": priority,
            "options": options,
            "correlation_id": correlation_id,
            "user_id": user_id,
            "eta": eta,
            "jobs": jobs[start : start + MAX_JOBS_PER_EVENT],
        }
        for start in range(0, len(jobs), MAX_JOBS_PER_EVENT)
    ]


def expand(event: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield ``event`` itself, or the "enqueued" event of a sent message or of each job of a batch event."""
    if event["kind"] == SENT_KIND:
        yield _enqueued_from_sent(event)
        return
    if event["kind"] != BATCH_KIND:
        yield event
        return
    options = event["options"]
    envelope = options.get(ENVELOPE_OPTION)
    for job_id, payload, broker_message_id, key in event["jobs"]:
        job_options = dict(options)
        if envelope is not None:
            job_options[ENVELOPE_OPTION] = {_KEY_FIELD: key, **envelope}
        yield {
            "kind": "enqueued",
            "job": job_id,
            "ts": event["ts"],
            "actor": event["actor"],
            "queue": event["queue"],
            "priority": event["priority"],
            "payload": payload,
            "options": job_options,
            "broker_message_id": broker_message_id,
            "idempotency_key": key,
            "correlation_id": event["correlation_id"],
            "user_id": event["user_id"],
            "eta": event["eta"],
        }


def _enqueued_from_sent(event: dict[str, Any]) -> dict[str, Any]:
    # Imported here: the tracking middleware imports this module.
    from queueadmin.middleware.tracking import enqueued_fields

    message = Message(**event["message"])
    return {
        "kind": "enqueued",
        "job": message.message_id,
        **enqueued_fields(message, ts=event["ts"], eta=event["eta"]),
    }
