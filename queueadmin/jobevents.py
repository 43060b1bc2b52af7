"""A per-process buffer of job events and metric increments, pushed to Redis.

The tracking middleware only appends to this buffer, so recording costs a
job no network round trip. A daemon thread pushes the buffer to Redis every
``QUEUE_EVENT_PUSH_INTERVAL_SECONDS`` in one pipeline: events go to the list
``{namespace}:job-events`` (folded into job records by ``queueadmin.records``)
and counters are added with ``HINCRBY``, so several processes aggregate.

The broker also sends the buffered events with each acknowledgement
(``ProjectRedisBroker.do_ack``), so a job's outcome reaches Redis before its
message leaves the broker. Counters go only with the pusher's pipeline. What is
buffered in a process that is killed before it is sent is lost: at most
``QUEUE_EVENT_PUSH_INTERVAL_SECONDS`` of counter increments, and the events of
jobs that have not been acknowledged yet.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import orjson
import redis
from django.conf import settings

from queueadmin.redisclient import get_redis, job_events_key

logger = logging.getLogger(__name__)

#: Seconds between two warnings while pushes keep failing.
FAILURE_WARNING_INTERVAL_SECONDS = 60

#: Events kept in memory while Redis is unreachable; older ones are dropped.
MAX_BUFFERED_EVENTS = 100_000

#: orjson writes what ``json.dumps(event, default=str)`` writes, with dates
#: and dataclasses passed to ``str`` as the standard library does.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS


def _encode_event(event: dict[str, Any]) -> bytes | str:
    try:
        return orjson.dumps(event, default=str, option=_ORJSON_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        # Integers over 64 bits, for example.
        return json.dumps(event, default=str)


@dataclass
class EventBatch:
    """Events and counter increments taken from the buffer to be sent together."""

    events: list[bytes | str]
    counters: dict[tuple[str, str], int]
    float_counters: dict[tuple[str, str], float]
    expiry: dict[str, int]

    def __bool__(self) -> bool:
        return bool(self.events or self.counters or self.float_counters)

    def add_to(self, pipeline: redis.client.Pipeline) -> None:
        """Add the batch's commands to ``pipeline``."""
        if self.events:
            pipeline.rpush(job_events_key(), *self.events)
        for (key, field), amount in self.counters.items():
            pipeline.hincrby(key, field, amount)
        for (key, field), amount in self.float_counters.items():
            pipeline.hincrbyfloat(key, field, amount)
        for key, seconds in self.expiry.items():
            pipeline.expire(key, seconds)


class EventBuffer:
    """Events and counter increments waiting for the next push to Redis."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Held for a whole push, so that a push waits for one in flight.
        self._push_lock = threading.Lock()
        self._events: list[bytes | str] = []
        self._counters: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._float_counters: defaultdict[tuple[str, str], float] = defaultdict(float)
        self._expiry: dict[str, int] = {}
        self._thread_pid: int | None = None
        self._dropped = 0
        self._failing_since: float | None = None
        self._last_warning = 0.0

    def add_event(self, kind: str, job_id: str, **fields: Any) -> dict[str, Any]:
        """Buffer one job event and return it; ``ts`` (UNIX seconds) is added unless given."""
        fields.setdefault("ts", time.time())
        event = {"kind": kind, "job": job_id, **fields}
        self.add_events([event])
        return event

    def add_events(self, events: list[dict[str, Any]]) -> None:
        """Buffer complete events (with their ``kind`` and ``ts``)."""
        lines = [_encode_event(event) for event in events]
        with self._lock:
            self._events.extend(lines)
        self._ensure_thread()

    def incr(self, key: str, field: str, amount: int = 1, expire_seconds: int | None = None) -> None:
        """Buffer ``HINCRBY key field amount``; ``expire_seconds`` sets the key's TTL."""
        with self._lock:
            self._counters[(key, field)] += amount
            if expire_seconds is not None:
                self._expiry[key] = expire_seconds
        self._ensure_thread()

    def incr_float(self, key: str, field: str, amount: float) -> None:
        """Buffer ``HINCRBYFLOAT key field amount``."""
        with self._lock:
            self._float_counters[(key, field)] += amount

    def take_events(self) -> EventBatch:
        """Remove and return the buffered events alone, to be sent with other commands.

        The counters stay for the next push of the pusher thread, which adds
        up the increments of many jobs into one command per counter.
        """
        with self._lock:
            batch = EventBatch(self._events, {}, {}, {})
            self._events = []
        return batch

    def take(self) -> EventBatch:
        """Remove and return everything buffered, to be sent with other commands."""
        with self._lock:
            batch = EventBatch(self._events, self._counters, self._float_counters, self._expiry)
            self._events = []
            self._counters = defaultdict(int)
            self._float_counters = defaultdict(float)
            self._expiry = {}
        return batch

    def push(self, client: redis.Redis | None = None, *, wait: bool = True) -> int:
        """Send everything buffered to Redis in one pipeline; return the event count.

        A push that another thread has in flight finishes first, so every event
        buffered before the call is in Redis when it returns, unless Redis
        failed. Events that an ack or nack took to send with its own script
        call (``take_events``) are not waited for. With ``wait`` false the
        call returns 0 at once while another push is in flight, and the
        pusher thread sends the rest later. On a Redis error the events and
        counters are kept for the next push.
        """
        if not self._push_lock.acquire(blocking=wait):
            return 0
        try:
            batch = self.take()
            if not batch:
                return 0
            pipeline = (client or get_redis()).pipeline(transaction=False)
            batch.add_to(pipeline)
            try:
                pipeline.execute()
            except redis.RedisError as exc:
                self.restore(batch, exc)
                return 0
            self.sent()
            return len(batch.events)
        finally:
            self._push_lock.release()

    def sent(self) -> None:
        """Note that a batch reached Redis, ending a streak of failures."""
        if self._failing_since is not None:
            logger.info(
                "Pushing job events to Redis works again after %.0f s.",
                time.monotonic() - self._failing_since,
            )
            self._failing_since = None

    def restore(self, batch: EventBatch, exc: Exception) -> None:
        """Put back a batch that could not be sent, ahead of anything buffered since."""
        self._warn_failure(len(batch.events), exc)
        self._restore(batch.events, batch.counters, batch.float_counters, batch.expiry)

    def _warn_failure(self, count: int, exc: Exception) -> None:
        # One line when a failure streak starts, then at most one a minute.
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._last_warning < FAILURE_WARNING_INTERVAL_SECONDS:
            return
        self._last_warning = now
        logger.warning(
            "Pushing %d job events to Redis failed for %.0f s, retrying: %s",
            count,
            now - self._failing_since,
            exc,
        )

    def _restore(self, events, counters, float_counters, expiry) -> None:
        with self._lock:
            self._events[:0] = events
            overflow = len(self._events) - MAX_BUFFERED_EVENTS
            if overflow > 0:
                del self._events[:overflow]
                self._dropped += overflow
                logger.error("Dropped %d buffered job events (%d in all).", overflow, self._dropped)
            for item, amount in counters.items():
                self._counters[item] += amount
            for item, amount in float_counters.items():
                self._float_counters[item] += amount
            for key, seconds in expiry.items():
                self._expiry.setdefault(key, seconds)

    def reset_after_fork(self) -> None:
        """Start a forked child with an empty buffer and new locks.

        The parent still sends what it had buffered, so a child that sent it
        too would write each event twice. The child may inherit a lock held
        by a thread that it does not have.
        """
        self._lock = threading.Lock()
        self._push_lock = threading.Lock()
        self._events = []
        self._counters = defaultdict(int)
        self._float_counters = defaultdict(float)
        self._expiry = {}
        self._failing_since = None

    def _ensure_thread(self) -> None:
        # A forked worker process inherits the buffer but not the thread.
        pid = os.getpid()
        if self._thread_pid == pid:
            return
        with self._lock:
            if self._thread_pid == pid:
                return
            self._thread_pid = pid
        thread = threading.Thread(target=self._run, name="job-event-pusher", daemon=True)
        thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(settings.QUEUE_EVENT_PUSH_INTERVAL_SECONDS)
            try:
                self.push()
            except Exception:  # noqa: BLE001 - the pusher thread must not die
                logger.exception("Unexpected error while pushing job events.")


#: The buffer of this process.
buffer = EventBuffer()
atexit.register(buffer.push)
os.register_at_fork(after_in_child=buffer.reset_after_fork)


def emit(kind: str, job_id: str, **fields: Any) -> dict[str, Any]:
    """Buffer one job event of this process and return it."""
    return buffer.add_event(kind, job_id, **fields)
