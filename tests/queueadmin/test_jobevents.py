"""The per-process buffer of job events and metric counters."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from django.test import override_settings

from queueadmin import jobevents
from queueadmin.jobevents import EventBuffer
from queueadmin.redisclient import job_events_key
from tests.helpers import fork_child, wait_for_child, wait_until


def test_take_events_leaves_counters():
    # A long push interval keeps the new buffer's pusher thread asleep.
    with override_settings(QUEUE_EVENT_PUSH_INTERVAL_SECONDS=60):
        pending = EventBuffer()
        pending.add_event("started", "job-1", ts=1.0)
        pending.incr("metrics:jobs", "emails|noop|succeeded")
        pending.incr_float("metrics:duration", "emails|noop|succeeded|sum", 2.5)

        events = pending.take_events()
        rest = pending.take()

    assert len(events.events) == 1
    assert events.counters == {}
    assert events.float_counters == {}
    assert rest.events == []
    assert rest.counters == {("metrics:jobs", "emails|noop|succeeded"): 1}
    assert rest.float_counters == {("metrics:duration", "emails|noop|succeeded|sum"): 2.5}


@contextmanager
def _push_in_flight(client: redis.Redis, pending: EventBuffer) -> Iterator[None]:
    """Keep a push of ``pending``'s one event in flight until the block ends."""
    pending.add_event("started", "job-1", ts=1.0)
    # Redis delays every write until the unpause, so the push stays in
    # flight with its event taken out of the buffer.
    client.execute_command("CLIENT", "PAUSE", 10_000, "WRITE")
    in_flight = threading.Thread(target=pending.push, args=(client,))
    try:
        in_flight.start()
        wait_until(lambda: not pending._events and in_flight.is_alive())
        yield
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
        in_flight.join(10)


def test_push_waits_for_push_in_flight(private_redis):
    client = redis.Redis.from_url(private_redis.start())
    lengths_after_push = []

    def push_and_read_length():
        pending.push(client)
        lengths_after_push.append(client.llen(job_events_key()))

    with override_settings(QUEUE_EVENT_PUSH_INTERVAL_SECONDS=60):
        pending = EventBuffer()
        with _push_in_flight(client, pending):
            second = threading.Thread(target=push_and_read_length)
            second.start()
            time.sleep(0.2)
        second.join(10)

    assert lengths_after_push == [1]


def test_push_without_wait_skips_push_in_flight(private_redis):
    client = redis.Redis.from_url(private_redis.start())
    with override_settings(QUEUE_EVENT_PUSH_INTERVAL_SECONDS=60):
        pending = EventBuffer()
        with _push_in_flight(client, pending):
            pending.add_event("succeeded", "job-1", ts=2.0)
            pushed = pending.push(client, wait=False)
            # Read while Redis still delays the first push.
            events_in_redis = client.llen(job_events_key())
            left_in_buffer = len(pending._events)

    assert pushed == 0
    assert events_in_redis == 0
    assert left_in_buffer == 1


def test_forked_child_pushes_despite_held_lock(private_redis):
    url = private_redis.start()

    def push_in_child():
        jobevents.buffer.add_event("started", "job-in-child", ts=1.0)
        jobevents.buffer.push(redis.Redis.from_url(url))

    # The parent's pusher thread can be in a push when a worker process forks.
    with jobevents.buffer._push_lock:
        pid = fork_child(push_in_child)
    exit_code = wait_for_child(pid)

    assert exit_code == 0
    events = redis.Redis.from_url(url).lrange(job_events_key(), 0, -1)
    assert any(b"job-in-child" in event for event in events)


def test_forked_child_skips_parent_events(private_redis):
    client = redis.Redis.from_url(private_redis.start())
    with override_settings(QUEUE_EVENT_PUSH_INTERVAL_SECONDS=60):
        jobevents.buffer.push(client)
        jobevents.buffer.add_event("enqueued", "job-before-fork", ts=1.0)
        # A worker process pushes what it buffered, as its pusher thread does.
        exit_code = wait_for_child(fork_child(lambda: jobevents.buffer.push(client)))
        jobevents.buffer.push(client)

    events = client.lrange(job_events_key(), 0, -1)
    assert exit_code == 0
    assert sum(b"job-before-fork" in event for event in events) == 1
