"""The per-process buffer of job events and metric counters."""

from __future__ import annotations

from django.test import override_settings

from queueadmin.jobevents import EventBuffer


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
