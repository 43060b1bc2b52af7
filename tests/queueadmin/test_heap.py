"""Freezing a process's startup objects out of garbage collection."""

from __future__ import annotations

import gc
import re

import pytest
from dramatiq import Middleware, Worker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import MiddlewareError

from queueadmin import heap
from queueadmin.heap import freeze_startup_objects, unfreeze_startup_objects
from queueadmin.middleware.heap import FreezeStartupObjects
from tests.helpers import fork_child, wait_for_child
from tests.workers import WorkerProcess, subprocess_env

FROZE_LINE = re.compile(r"Froze (\d+) objects created since the (worker|record writer) process started")


def test_freeze_removes_objects_from_collection():
    tracked_before = len(gc.get_objects())
    try:
        frozen = freeze_startup_objects("test")
        # gc.get_objects() lists the objects that collections walk.
        tracked_frozen = len(gc.get_objects())
        # Not equal to the returned count: frozen objects freed since then leave the frozen set.
        still_frozen = gc.get_freeze_count()
        assert frozen > tracked_before // 2
        assert still_frozen > tracked_before // 2
        assert tracked_frozen < tracked_before // 10
    finally:
        unfreeze_startup_objects()

    assert gc.get_freeze_count() == 0
    assert len(gc.get_objects()) > tracked_before // 2


def test_objects_stay_frozen_until_last_unfreeze():
    try:
        freeze_startup_objects("first worker")
        freeze_startup_objects("second worker")
        unfreeze_startup_objects()
        frozen_after_one = gc.get_freeze_count()
    finally:
        unfreeze_startup_objects()

    assert frozen_after_one > 0
    assert gc.get_freeze_count() == 0


def test_unfreeze_without_freeze_changes_nothing():
    unfreeze_startup_objects()
    try:
        freeze_startup_objects("worker")
        frozen = gc.get_freeze_count()
    finally:
        unfreeze_startup_objects()

    assert frozen > 0
    assert gc.get_freeze_count() == 0


def _frozen_count(process: WorkerProcess, name: str) -> int:
    process.wait_for_line(f"since the {name} process started")
    for line in process.output.splitlines():
        match = FROZE_LINE.search(line)
        if match and match.group(2) == name:
            return int(match.group(1))
    raise AssertionError(f"no freeze line of the {name} process in its output")


@pytest.mark.django_db(transaction=True)
def test_worker_freezes_startup_objects(worker):
    # A set-up Django process has about 100,000 tracked objects.
    assert _frozen_count(worker, "worker") > 50_000


@pytest.mark.django_db(transaction=True)
def test_record_writer_freezes_startup_objects():
    writer = WorkerProcess(["write_job_records"], subprocess_env(QUEUE_RECORD_WRITER="process"))
    try:
        assert _frozen_count(writer, "record writer") > 50_000
    finally:
        writer.stop(graceful=True)


def test_forked_child_freezes_despite_held_lock():
    def freeze_in_child():
        freeze_startup_objects("worker")
        unfreeze_startup_objects()

    # Another thread can be inside freeze_startup_objects, which collects
    # garbage with the lock held, when a thread forks a worker process.
    with heap._freezes_lock:
        pid = fork_child(freeze_in_child)
    exit_code = wait_for_child(pid)

    assert exit_code == 0


def test_repeated_stop_keeps_freeze():
    broker = StubBroker(middleware=[FreezeStartupObjects()])
    running = Worker(broker, worker_threads=1)
    stopped = Worker(broker, worker_threads=1)
    running.start()
    try:
        stopped.start()
        stopped.stop()
        # A second stop, as when a finally block and a fixture both stop it.
        stopped.stop()
        frozen_while_running = gc.get_freeze_count()
    finally:
        running.stop()

    assert frozen_while_running > 0
    assert gc.get_freeze_count() == 0


class _BootError(MiddlewareError):
    pass


class _FailingBoot(Middleware):
    def before_worker_boot(self, broker, worker):
        # Dramatiq passes a MiddlewareError on to Worker.start's caller.
        raise _BootError("boot failed")


def test_failed_boot_keeps_freeze():
    # Worker.start raises before the after_worker_boot hooks, so the worker
    # that fails to boot never freezes, and its caller stops it all the same.
    broker = StubBroker(middleware=[FreezeStartupObjects(), _FailingBoot()])
    failing = Worker(broker, worker_threads=1)
    # The freeze of another worker that runs in this process.
    freeze_startup_objects("other worker")
    try:
        with pytest.raises(_BootError):
            failing.start()
        failing.stop()
        frozen_while_other_runs = gc.get_freeze_count()
    finally:
        unfreeze_startup_objects()

    assert frozen_while_other_runs > 0
    assert gc.get_freeze_count() == 0
