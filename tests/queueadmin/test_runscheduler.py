"""``manage.py runscheduler`` as real processes: two side by side, reloads, a crash."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest

from queueadmin.models import JobRecord, Schedule
from queueadmin.records import flush_job_events
from tests.helpers import wait_until
from tests.workers import WorkerProcess, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)

READY_LINE = "Scheduler started"


@pytest.fixture
def scheduler_factory(broker, transactional_db):
    started: list[WorkerProcess] = []

    def factory(reload_seconds: int = 1) -> WorkerProcess:
        process = WorkerProcess(
            ["runscheduler", "--reload-seconds", str(reload_seconds)], subprocess_env()
        )
        started.append(process)
        process.wait_for_line(READY_LINE, timeout=60)
        return process

    yield factory
    for process in started:
        process.stop()


def _every_second(name: str = "each-second", **fields) -> Schedule:
    schedule = Schedule(
        name=name,
        actor="note_job",
        arguments={"key": name},
        cron="* * * * * *",
        timezone="UTC",
        **fields,
    )
    schedule.save()
    return schedule


def _fired_keys(name: str) -> list[str]:
    # Job records are written from events; no worker runs here to write them.
    flush_job_events(wait=True)
    prefix = f"schedule:{name}:"
    return list(
        JobRecord.objects.filter(idempotency_key__startswith=prefix).values_list(
            "idempotency_key", flat=True
        )
    )


def test_two_schedulers_enqueue_each_tick_once(scheduler_factory):
    _every_second()
    first = scheduler_factory()
    second = scheduler_factory()

    wait_until(lambda: len(_fired_keys("each-second")) >= 6, timeout=60)

    keys = _fired_keys("each-second")
    duplicates = [key for key, count in Counter(keys).items() if count > 1]
    assert duplicates == []
    assert first.is_running()
    assert second.is_running()
    # Each enqueue logs one line, written after the job record.
    wait_until(
        lambda: first.count("Schedule each-second fired") + second.count("Schedule each-second fired")
        >= len(keys),
        timeout=10,
    )

    # One scheduler dies; the other keeps firing, still once per tick.
    os.killpg(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=30)
    before = len(keys)
    wait_until(lambda: len(_fired_keys("each-second")) >= before + 4, timeout=60)
    keys = _fired_keys("each-second")
    assert len(keys) == len(set(keys))


def test_schedule_changes_picked_up_without_restart(scheduler_factory):
    process = scheduler_factory(reload_seconds=1)
    schedule = _every_second("added-later")

    wait_until(lambda: len(_fired_keys("added-later")) >= 2, timeout=30)
    process.wait_for_line("Schedule added-later loaded", timeout=10)

    schedule.enabled = False
    schedule.save()
    process.wait_for_line("Schedule added-later removed", timeout=30)
    time.sleep(1.5)
    count = len(_fired_keys("added-later"))
    time.sleep(2.5)
    assert len(_fired_keys("added-later")) == count


def test_code_schedule_synced_at_start(scheduler_factory):
    scheduler_factory()

    row = Schedule.objects.get(name="test-new-year")
    assert row.defined_in_code is True
    assert row.cron == "0 0 1 1 *"
    builtins = Schedule.objects.filter(name__in=["queue-clean-up", "outbox-relay"])
    assert sorted(builtins.values_list("actor", flat=True)) == [
        "clean_up_queue_records",
        "relay_outbox",
    ]
