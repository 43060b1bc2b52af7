"""Compact forms of "enqueued" job events, and their expansion into "enqueued" events.

The broker's send script writes a "sent" event beside each message it sends:

    {"kind": "sent", "ts": ..., "eta": ..., "message": {... the message as sent ...}}

The fields of the "enqueued" event are read from the message, as the
tracking middleware reads them (``tracking.enqueued_fields``).

Producers of earlier versions wrote one batch event for the jobs of a bulk
send instead, with the fields that the jobs share kept once and up to
``MAX_JOBS_PER_EVENT`` jobs:

    {"kind": "enqueued_batch", "ts": ..., "actor": ..., "queue": ..., "priority": ...,
     "options": {... the envelope without its idempotency key ...},
     "correlation_id": ..., "user_id": ..., "eta": ...,
     "jobs": [[job id, payload, broker message id, idempotency key], ...]}

Such events may still wait in the event list after an upgrade. The record
writer expands both forms (``expand``) before folding events into records,
so a record cannot tell how its job was sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dramatiq import Message

from queueadmin.envelope import ENVELOPE_OPTION

#: Event kind of a batch.
BATCH_KIND = "enqueued_batch"
#: Event kind that the send script writes for each message it sends.
SENT_KIND = "sent"
#: Event kinds that ``expand`` turns into "enqueued" events.
COMPACT_KINDS = frozenset({BATCH_KIND, SENT_KIND})

#: Maximum number of jobs that a batch event contains.
MAX_JOBS_PER_EVENT = 1000

_KEY_FIELD = "idempotency_key"


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
