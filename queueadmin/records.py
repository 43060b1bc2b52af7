"""Fold buffered job events into ``JobRecord`` rows, in batches.

Events arrive in the Redis list ``{namespace}:job-events`` (see
``queueadmin.jobevents``). ``flush_job_events`` holds a Redis lock while it
reads a batch and upserts it (INSERT … ON CONFLICT). It trims the batch from
the list only after the commit, so one process writes at a time and a failed
flush loses no event. Within a job, events apply in time order;
an event older than the record's ``status_changed_at`` leaves the status
alone, so events pushed late by another process cannot move a job back.
"""

from __future__ import annotations

import functools
import json
import logging
import operator
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import orjson
import redis
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone as django_timezone

from queueadmin.batchevents import COMPACT_KINDS, expand
from queueadmin.context import current_job
from queueadmin.envelope import get_envelope
from queueadmin.jobevents import buffer, emit
from queueadmin.models import JobRecord
from queueadmin.redisclient import get_redis, job_events_key, key
from queueadmin.statuses import JobStatus

logger = logging.getLogger(__name__)

#: Events read from Redis and written to the database in one transaction.
BATCH_SIZE = 1000
#: Seconds the lock lives without renewal; each batch renews it, so a process
#: killed during a flush blocks the others for at most this long.
LOCK_TIMEOUT_SECONDS = 15
SUMMARY_LENGTH = 255
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

#: Columns of the upsert; ``job_id`` comes first, it is the conflict target.
_WRITTEN_FIELDS = [JobRecord._meta.get_field("job_id")] + [
    field for field in JobRecord._meta.concrete_fields if field.name not in ("id", "job_id")
]
_COPIED_FIELDS = _WRITTEN_FIELDS[1:]
_written_values = operator.attrgetter(*(field.attname for field in _WRITTEN_FIELDS))
#: Columns read from existing records: all but ``updated_at``, which every fold assigns.
_READ_FIELDS = [field for field in _WRITTEN_FIELDS if field.attname != "updated_at"]
_READ_ATTNAMES = [field.attname for field in _READ_FIELDS]
_JSON_ATTNAMES = [field.attname for field in _READ_FIELDS if isinstance(field, models.JSONField)]
_event_ts = operator.itemgetter("ts")

#: Every integer outside the 64-bit range has at least 19 digits. orjson 3.x
#: decodes such an integer as a float instead of failing, so ``_decode_event``
#: leaves raw events with a run of 19 digits to the standard library. The
#: translation maps every digit to "0" for a substring search, which is
#: faster than a regular expression.
_DIGITS_TO_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGIT_RUN = b"0" * 19


def _time(ts: float | None) -> datetime | None:
    if ts is None:
        return None
    # Positional, because the keyword form takes 0.6 us instead of 0.4 us (CPython 3.11.7).
    return datetime.fromtimestamp(ts, timezone.utc)


def _set_status(record: SimpleNamespace, status: str, at: datetime) -> bool:
    if at < record.status_changed_at:
        return False
    record.status = status
    record.status_changed_at = at
    return True


def _identify(record: SimpleNamespace, event: dict[str, Any]) -> None:
    record.actor = event.get("actor") or record.actor
    record.queue = event.get("queue") or record.queue


def _apply_enqueued(record: SimpleNamespace, event: dict[str, Any], at: datetime) -> None:
    record.priority = event.get("priority", 0)
    record.payload = event.get("payload", {})
    record.options = event.get("options", {})
    record.broker_message_id = event.get("broker_message_id", "")
    record.idempotency_key = event.get("idempotency_key") or ""
    record.correlation_id = event.get("correlation_id") or ""
    record.user_id = event.get("user_id") or ""
    record.enqueued_at = at
    record.eta = _time(event.get("eta"))
    status = JobStatus.DELAYED if event.get("eta") else JobStatus.ENQUEUED
    if _set_status(record, status, at):
        # A dead letter sent again starts over with fresh attempts.
        record.attempts = 0
        record.started_at = record.finished_at = None
        record.duration_ms = record.wait_ms = record.progress = None
        record.progress_message = record.result_summary = ""


def _apply_retry_scheduled(record: SimpleNamespace, event: dict[str, Any], at: datetime) -> None:
    record.broker_message_id = event.get("broker_message_id", record.broker_message_id)
    record.eta = _time(event.get("eta"))
    record.next_retry_delay_ms = event.get("delay_ms")
    _set_status(record, JobStatus.RETRYING, at)


def _apply_moved(record: SimpleNamespace, event: dict[str, Any], at: datetime) -> None:
    record.broker_message_id = event.get("broker_message_id", record.broker_message_id)


def _apply_started(record: SimpleNamespace, event: dict[str, Any], at: datetime) -> None:
    if _set_status(record, JobStatus.RUNNING, at):
        record.started_at = at
        record.finished_at = None
        record.attempts = event.get("attempt", 1)
        record.wait_ms = event.get("wait_ms")


def _apply_progress(record: SimpleNamespace, event: dict[str, Any], at: datetime) -> None:
    record.progress = event["percent"]
    record.progress_message = event.get("message", "")


def _apply_succeeded(record: SimpleNamespace, event: dict[str, Any], at: datetime) -> None:
    if _set_status(record, JobStatus.SUCCEEDED, at):
        record.finished_at = at
        record.duration_ms = event.get("duration_ms")
        record.result_summary = event.get("result_summary", "")[:SUMMARY_LENGTH]
        record.progress = 100


def _apply_failed(record: SimpleNamespace, event: dict[str, Any], at: datetime) -> None:
    record.duration_ms = event.get("duration_ms")
    record.last_error = event.get("error", "")
    record.traceback = event.get("traceback", "")
    record.attempts = max(record.attempts, event.get("attempt", 1))
    if event.get("broker_message_id"):
        record.broker_message_id = event["broker_message_id"]
    if event.get("dead") and _set_status(record, JobStatus.DEAD, at):
        record.finished_at = at


def _apply_finished(record: SimpleNamespace, event: dict[str, Any], at: datetime) -> None:
    """Apply ``skipped`` and ``cancelled`` events: the job will not run."""
    if _set_status(record, event["status"], at):
        record.finished_at = at
        if event.get("reason"):
            record.last_error = event["reason"]


#: The function that applies each kind of event to a record, given the event's time.
_APPLIERS: dict[str, Callable[[SimpleNamespace, dict[str, Any], datetime], None]] = {
    "enqueued": _apply_enqueued,
    "retry_scheduled": _apply_retry_scheduled,
    "moved": _apply_moved,
    "started": _apply_started,
    "progress": _apply_progress,
    "succeeded": _apply_succeeded,
    "failed": _apply_failed,
    "finished": _apply_finished,
}


def _new_record(job_id: str) -> SimpleNamespace:
    record = SimpleNamespace(**{field.attname: field.get_default() for field in _COPIED_FIELDS})
    record.job_id = job_id
    record.status_changed_at = EPOCH
    return record


class _StoredJson:
    """The text of a JSON value as ``_existing_records`` read it, to be written back unchanged."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _NotEncodable(Exception):
    """A record with a value of a type that ``_upsert`` leaves to the arrays path."""


def _json_converter(ops, encoder) -> Callable[[Any], Any]:
    adapt = functools.partial(ops.adapt_json_value, encoder=encoder)

    def convert(value: Any) -> Any:
        if type(value) is _StoredJson:
            from psycopg.types.json import Jsonb

            return Jsonb(value.text, dumps=str)
        return adapt(value)

    return convert


def _converters(ops) -> list[tuple[str, Callable[[Any], Any] | None]]:
    converters: list[tuple[str, Callable[[Any], Any] | None]] = []
    for field in _WRITTEN_FIELDS:
        converter = None
        if isinstance(field, models.DateTimeField):
            converter = ops.adapt_datetimefield_value
        elif isinstance(field, models.JSONField):
            converter = _json_converter(ops, field.encoder)
        converters.append((field.attname, converter))
    return converters


def _json_fragment_converter(encoder) -> Callable[[Any], orjson.Fragment]:
    def convert(value: Any) -> orjson.Fragment:
        if type(value) is _StoredJson:
            return orjson.Fragment(value.text)
        # The text that Django's PostgreSQL backend sends for a JSONField.
        return orjson.Fragment(json.dumps(value, cls=encoder))

    return convert


def _document_type_allowed(field: models.Field, value_type: type) -> bool:
    if isinstance(field, models.JSONField) or value_type is type(None):
        return True
    if isinstance(field, (models.CharField, models.TextField)):
        return issubclass(value_type, str)
    if isinstance(field, models.IntegerField):
        # Not bool, a subclass of int, which psycopg sends as boolean.
        return value_type is int
    if isinstance(field, models.DateTimeField):
        # orjson writes RFC 3339, with the UTC offset of an aware datetime.
        # PostgreSQL reads a naive one in the session's time zone, as it
        # does psycopg's binary timestamp.
        return issubclass(value_type, datetime)
    return False


@functools.lru_cache(maxsize=256)
def _document_types_allowed(value_types: tuple[type, ...]) -> bool:
    """Return whether a row with values of ``value_types`` may go in the JSON document.

    A fold of well-formed events gives no other types. Another one, such as a
    float in an integer column or a dict in a text column, could be carried
    differently by the document and by the arrays. orjson writes a float NaN
    as null, for example, which PostgreSQL would store in a nullable column.
    """
    return all(map(_document_type_allowed, _WRITTEN_FIELDS, value_types))


def _document_row(record: SimpleNamespace, json_converters) -> list:
    """Return the values of ``record`` for the JSON document, or raise ``_NotEncodable``."""
    values = _written_values(record)
    if not _document_types_allowed(tuple(map(type, values))):
        raise _NotEncodable(record.job_id)
    row = list(values)
    for index, convert in json_converters:
        row[index] = convert(row[index])
    return row


def _row(record: SimpleNamespace, converters) -> tuple:
    values = []
    for attname, converter in converters:
        value = getattr(record, attname)
        values.append(value if converter is None else converter(value))
    return tuple(values)


def _array_element_type(field: models.Field) -> str:
    # An explicit cast to varchar(n) cuts longer text without an error, so
    # text arrays are cast to text. The INSERT's assignment to the varchar(n)
    # column then rejects a value that is too long, as a plain INSERT does.
    if isinstance(field, models.CharField):
        return "text"
    return field.db_type(connection)


def _upsert_statement(rows: str) -> str:
    """Return the upsert of every column from the SQL ``rows``, a SELECT or VALUES."""
    table = connection.ops.quote_name(JobRecord._meta.db_table)
    columns = [connection.ops.quote_name(field.column) for field in _WRITTEN_FIELDS]
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in columns[1:])
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) {rows} "
        f"ON CONFLICT ({columns[0]}) DO UPDATE SET {updates}"
    )


@functools.cache
def _upsert_sql(vendor: str) -> str:
    if vendor == "postgresql":
        # One statement per batch: one array parameter per column, turned back
        # into rows by unnest().
        arrays = ", ".join(f"%b::{_array_element_type(field)}[]" for field in _WRITTEN_FIELDS)
        return _upsert_statement(f"SELECT * FROM unnest({arrays})")
    return _upsert_statement("VALUES (" + ", ".join(["%s"] * len(_WRITTEN_FIELDS)) + ")")


@functools.cache
def _document_upsert_sql() -> str:
    """Return the PostgreSQL upsert of rows sent as one JSON array of arrays."""
    values = []
    for index, field in enumerate(_WRITTEN_FIELDS):
        if isinstance(field, models.JSONField):
            values.append(f"item -> {index}")
        elif isinstance(field, (models.CharField, models.TextField)):
            # Text, not varchar(n), for the reason given in _array_element_type.
            values.append(f"item ->> {index}")
        else:
            values.append(f"(item ->> {index})::{field.db_type(connection)}")
    return _upsert_statement(f"SELECT {', '.join(values)} FROM jsonb_array_elements(%b) AS item")


def _unchanged(document: bytes) -> bytes:
    return document


def _upsert(records: list[SimpleNamespace]) -> None:
    # PostgreSQL gets one statement per batch, with the rows in one JSON
    # document that orjson writes in C. A batch with a value of another type
    # than _document_types_allowed accepts, or one that orjson cannot write
    # (integers over 64 bits, lone surrogates), goes as one array per column
    # instead. psycopg builds those arrays element by element in Python, and
    # PostgreSQL casts such values as it always did. SQLite runs the
    # single-row statement with executemany, which loops in C. A multi-row
    # VALUES list is slower on both, because the client parses its thousands
    # of placeholders.
    if not records:
        return
    if connection.vendor != "postgresql":
        converters = _converters(connection.ops)
        rows = [_row(record, converters) for record in records]
        with connection.cursor() as cursor:
            cursor.executemany(_upsert_sql(connection.vendor), rows)
        return
    import psycopg
    from psycopg.types.json import Jsonb

    try:
        json_converters = [
            (index, _json_fragment_converter(field.encoder))
            for index, field in enumerate(_WRITTEN_FIELDS)
            if isinstance(field, models.JSONField)
        ]
        document = orjson.dumps([_document_row(record, json_converters) for record in records])
    except (orjson.JSONEncodeError, _NotEncodable):
        converters = _converters(connection.ops)
        rows = [_row(record, converters) for record in records]
        sql, params = _upsert_sql("postgresql"), [list(column) for column in zip(*rows)]
    else:
        sql, params = _document_upsert_sql(), [Jsonb(document, dumps=_unchanged)]
    # Django's cursors bind parameters on the client, which escapes every
    # value into the query text, but a plain psycopg cursor sends them as
    # binary parameters. Django's error wrapper still turns psycopg's errors
    # into django.db ones, which callers such as the flusher catch.
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params)


@functools.cache
def _select_sql() -> str:
    # JSON columns are read as their text, see _existing_records.
    columns = ", ".join(
        f"{connection.ops.quote_name(field.column)}::text"
        if isinstance(field, models.JSONField)
        else connection.ops.quote_name(field.column)
        for field in _READ_FIELDS
    )
    table = connection.ops.quote_name(JobRecord._meta.db_table)
    return f"SELECT {columns} FROM {table} WHERE {connection.ops.quote_name('job_id')} = ANY(%b)"


def _existing_records(job_ids: list[str]) -> dict[str, SimpleNamespace]:
    """Return the records of ``job_ids`` that exist, by job id."""
    if connection.vendor != "postgresql":
        rows = JobRecord.objects.filter(job_id__in=job_ids).values(*_READ_ATTNAMES)
        return {row["job_id"]: SimpleNamespace(**row) for row in rows}
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        # str() as in the ORM's CharField lookup, because a job id from an event may be a number.
        cursor.execute(_select_sql(), [[str(job_id) for job_id in job_ids]], binary=True)
        rows = cursor.fetchall()
    records = {}
    for row in rows:
        record = SimpleNamespace()
        record.__dict__.update(zip(_READ_ATTNAMES, row))
        # No applier reads a JSON field, so a stored value goes back as the
        # text that PostgreSQL sent, without decoding and encoding it again.
        for attname in _JSON_ATTNAMES:
            setattr(record, attname, _StoredJson(getattr(record, attname)))
        records[row[0]] = record
    return records


def apply_events(events: list[dict[str, Any]]) -> int:
    """Write ``events`` into job records with one upsert per job, sent as a batch.

    Records are folded as plain namespaces and written with
    ``INSERT … ON CONFLICT (job_id) DO UPDATE`` (PostgreSQL and SQLite 3.24+):
    the ORM's per-value preparation cost more than the rest of a no-op job.
    Returns the number of records written.
    """
    by_job: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_job[event["job"]].append(event)

    with transaction.atomic():
        existing = _existing_records(list(by_job))
        records = []
        for job_id, job_events in by_job.items():
            record = existing.get(job_id) or _new_record(job_id)
            last = job_events[-1]
            for event in sorted(job_events, key=_event_ts):
                at = _time(event["ts"])
                _identify(record, event)
                _APPLIERS[event["kind"]](record, event, at)
                if event is last:
                    record.updated_at = at
            records.append(record)
        _upsert(records)
    return len(by_job)


def insert_in_transaction(message: Any, delay: int | None) -> None:
    """Insert the record of a job that the current transaction sends on commit.

    The row commits or rolls back with the caller's data, like the send, and
    costs no commit of its own, so code in that transaction and right after it
    can find the job (for example by idempotency key) before any flush.
    """
    from queueadmin.middleware.tracking import enqueued_fields

    now = time.time()
    eta = now + delay / 1000 if delay else None
    insert_enqueued_record({"kind": "enqueued", "job": message.message_id,
                            **enqueued_fields(message, ts=now, eta=eta)})


def insert_enqueued_record(event: dict[str, Any]) -> None:
    """Insert a record from an "enqueued" event, unless a row for the job exists.

    ``INSERT … ON CONFLICT DO NOTHING`` never overwrites a row that a flush
    wrote first. The broker's event still goes through the event list, so a
    flush fills in what this insert could not know (the broker's message id).
    """
    record = _new_record(event["job"])
    at = _time(event["ts"])
    _identify(record, event)
    _apply_enqueued(record, event, at)
    record.updated_at = at
    columns = ", ".join(connection.ops.quote_name(field.column) for field in _WRITTEN_FIELDS)
    placeholders = ", ".join(["%s"] * len(_WRITTEN_FIELDS))
    table = connection.ops.quote_name(JobRecord._meta.db_table)
    job_id_column = connection.ops.quote_name("job_id")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "
            f"ON CONFLICT ({job_id_column}) DO NOTHING",
            _row(record, _converters(connection.ops)),
        )


def _decode_event(raw: bytes) -> dict[str, Any]:
    """Decode one raw event as ``json.loads`` does, with orjson where it gives the same value."""
    if _LONG_DIGIT_RUN not in raw.translate(_DIGITS_TO_ZEROS):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            # NaN, Infinity, lone surrogates and other input that the
            # standard library accepts and orjson rejects.
            pass
    return json.loads(raw)


def _expand_batch(raw_events: list[bytes]) -> tuple[list[bytes], list[dict[str, Any]]]:
    """Decode and expand raw events until ``BATCH_SIZE`` events; return the raw ones used.

    A batch event contains up to ``batchevents.MAX_JOBS_PER_EVENT`` jobs, so
    fewer raw events may fill one batch of records.
    """
    events: list[dict[str, Any]] = []
    for used, raw in enumerate(raw_events, start=1):
        event = _decode_event(raw)
        if event["kind"] in COMPACT_KINDS:
            events.extend(expand(event))
        else:
            # What expand() yields for such an event, without its generator.
            events.append(event)
        if len(events) >= BATCH_SIZE:
            return raw_events[:used], events
    return raw_events, events


def wait_for_job_events(timeout_seconds: float) -> bool:
    """Block until a job event is pending or ``timeout_seconds`` pass; return whether one is.

    ``BLMOVE`` from the list's head back to its head leaves the list as it was
    and returns as soon as it is not empty (Redis 6.2 or later).
    """
    events = job_events_key()
    return get_redis().blmove(events, events, timeout_seconds, "LEFT", "LEFT") is not None


def flush_job_events(*, wait: bool = False, max_events: int = 100_000) -> int:
    """Push this process's buffer, then write pending events into job records.

    With ``wait`` the call waits up to 5 s for a flush running in another
    process, so that its caller then sees every event sent before the call.
    Returns the number of events written; 0 when another process holds the
    lock and ``wait`` is false.

    The call ends once a read finds less than a full batch and uses it all:
    the list was then empty. Events that arrive meanwhile wait for the next
    call, so a steady trickle of jobs is written in one transaction per flush
    interval, not in one small transaction per few jobs.
    """
    # Without wait, the push skips one that another thread has in flight, so
    # a request that flushes on its way does not wait for Redis twice.
    buffer.push(wait=wait)
    client = get_redis()
    if not wait and client.llen(job_events_key()) == 0:
        # An idle worker's flusher costs Redis one command, not a lock round.
        return 0
    lock = client.lock(
        key("job-events", "lock"), timeout=LOCK_TIMEOUT_SECONDS, blocking_timeout=5
    )
    if not lock.acquire(blocking=wait):
        return 0
    written = 0
    lock_lost = False
    try:
        while written < max_events:
            fetched = client.lrange(job_events_key(), 0, BATCH_SIZE - 1)
            if not fetched:
                break
            raw_events, events = _expand_batch(fetched)
            apply_events(events)
            try:
                # Renews the lock, or fails when it expired and another
                # process may be reading the same batch: only the owner trims.
                lock.reacquire()
            except redis.exceptions.LockError:
                logger.warning(
                    "The job event lock expired during a flush; leaving %d events "
                    "for the next flush, which applies them again.",
                    len(raw_events),
                )
                lock_lost = True
                break
            client.ltrim(job_events_key(), len(raw_events), -1)
            written += len(events)
            if len(fetched) < BATCH_SIZE and len(raw_events) == len(fetched):
                break
    finally:
        try:
            if not lock_lost:
                lock.release()
        except redis.exceptions.LockError:
            logger.warning("The job event lock expired during a flush of %d events.", written)
    return written


def report_progress(percent: int, message: str = "") -> None:
    """Record the running job's progress, 0 to 100, with a short message.

    Outside a job (for example when a test calls the job function directly)
    this does nothing.

    Raises:
      ValueError: ``percent`` is outside 0-100.
    """
    if not 0 <= percent <= 100:
        raise ValueError(f"percent must be between 0 and 100, got {percent}.")
    job = current_job.get()
    if job is None:
        return
    emit(
        "progress",
        job.job_id,
        actor=job.actor,
        queue=job.queue,
        percent=percent,
        message=message[:SUMMARY_LENGTH],
    )
    logger.info("Progress %d%%: %s", percent, message)


def record_duplicate(message: Any, existing_job_id: str) -> None:
    """Record a job that was not sent because ``existing_job_id`` holds its key."""
    envelope = get_envelope(message)
    try:
        with transaction.atomic():
            JobRecord.objects.create(
                job_id=message.message_id,
                actor=message.actor_name,
                queue=message.queue_name.removesuffix(".DQ"),
                status=JobStatus.SKIPPED,
                idempotency_key=envelope.idempotency_key if envelope else "",
                correlation_id=envelope.correlation_id if envelope else "",
                user_id=(envelope.user_id or "") if envelope else "",
                payload=message.args[0] if message.args else {},
                finished_at=django_timezone.now(),
                last_error=f"duplicate of job {existing_job_id}",
            )
    except IntegrityError:
        logger.debug("Job record %s exists already.", message.message_id)


def record_cancelled(job_id: str, reason: str, *, actor: str, queue: str) -> None:
    """Record that a job was removed from the broker before any worker ran it."""
    emit(
        "finished",
        job_id,
        actor=actor,
        queue=queue,
        status=JobStatus.CANCELLED.value,
        reason=reason,
    )
