"""The py-spy profile summary of the benchmark suite, on real py-spy output.

``test_profiled_app_*`` runs a small Dramatiq worker under py-spy with the
options of the profile scenario and checks the parts it finds. The other
tests read ``data/pyspy-product-drain.txt``: lines of a raw profile that
``python -m bench.run --scenarios profile`` wrote for a product drain
(py-spy 0.4.3), with their counts. Only the absolute paths of the
interpreter in the process frames were shortened to ``.venv/bin/``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
import redis
from django.conf import settings

from bench.harness.processes import BASE_DIR, ManagedProcess, script_command
from bench.harness.profile import (
    CONSUMER_BROKER_CALLS,
    OUTSIDE,
    PROCESS_MESSAGE,
    parse_line,
    read_sampler_log,
    summarise_raw_profile,
)
from bench.scenarios.profile import pyspy_command, stop_profiled_worker

FIXTURE = Path(__file__).parent / "data" / "pyspy-product-drain.txt"
JOBS = 300
RATE_HZ = 250
#: ``QUEUE`` and ``BUSY_SECONDS`` of ``tests.bench.profiled_app``, which this
#: module does not import: importing it sets Dramatiq's global broker.
QUEUE = "profiled"
BUSY_SECONDS = 0.002

#: Two process frames: a sample of a process that the profiled command started.
CHILD_PROCESS_STACK = re.compile(r'^process \d+:"[^"]*";process \d+:"')


def _samples(summary, group: str, thread: str, name_start: str) -> int:
    """Return the samples of the one part of ``group`` and ``thread`` whose name starts with ``name_start``."""
    found = [
        part for part in summary.parts
        if part.group == group and part.thread == thread and part.name.startswith(name_start)
    ]
    listed = "\n".join(f"{part.group} | {part.thread} | {part.name} | {part.samples}" for part in summary.parts)
    assert len(found) == 1, f"{group} | {thread} | {name_start}... not found once in:\n{listed}"
    return found[0].samples


def _live_processes_in_group(group_id: int) -> list[int]:
    """Return the processes of a process group that still run (zombies excluded)."""
    found = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == group_id and process.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(process.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return found


@pytest.fixture(scope="module")
def profiled_app_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Drain ``JOBS`` jobs of ``tests.bench.profiled_app`` under py-spy and return its output and log."""
    folder = tmp_path_factory.mktemp("pyspy")
    namespace = f"{os.environ.get('QUEUE_REDIS_NAMESPACE', 'test')}-profiled-{uuid.uuid4().hex[:8]}"
    env = dict(
        os.environ,
        PYTHONPATH=str(BASE_DIR),
        PROFILED_APP_REDIS_URL=settings.REDIS_URL,
        PROFILED_APP_NAMESPACE=namespace,
        RUST_LOG="py_spy=warn",
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    client = redis.Redis.from_url(settings.REDIS_URL)
    queue_key = f"{namespace}:{QUEUE}"
    try:
        subprocess.run(
            [sys.executable, "-m", "tests.bench.profiled_app", str(JOBS)],
            cwd=BASE_DIR, env=env, check=True, timeout=60,
        )
        assert client.llen(queue_key) == JOBS
        output = folder / "profile.txt"
        command = script_command("dramatiq", "tests.bench.profiled_app", "--processes", "1", "--threads", "2")
        worker = ManagedProcess(pyspy_command(output, RATE_HZ, command), env, folder / "worker.log")
        try:
            deadline = time.monotonic() + 120
            while client.llen(queue_key) or client.hlen(f"{queue_key}.msgs"):
                assert worker.process.poll() is None, worker.output()[-3000:]
                assert time.monotonic() < deadline, worker.output()[-3000:]
                time.sleep(0.05)
            stop_profiled_worker(worker)
            exit_code = worker.process.poll()
        finally:
            worker.stop()
        return {
            "text": output.read_text(),
            "log": worker.output(),
            "exit_code": exit_code,
            "left_running": _live_processes_in_group(worker.pid),
        }
    finally:
        for key in client.scan_iter(match=f"{namespace}:*"):
            client.delete(key)
        client.close()


def test_profiled_app_pyspy_exits_after_worker(profiled_app_run: dict) -> None:
    # SIGTERM to the worker command lets py-spy finish on its own and write the profile.
    assert profiled_app_run["exit_code"] == 0, profiled_app_run["log"][-3000:]
    assert "Stopped sampling because process exited" in profiled_app_run["log"]
    assert profiled_app_run["left_running"] == []


def test_profiled_app_parts(profiled_app_run: dict) -> None:
    summary = summarise_raw_profile(profiled_app_run["text"])
    assert summary.worker_processes == 1
    assert len(summary.pids["main"]) == 1
    process_message = summary.group_samples(PROCESS_MESSAGE)
    hook = _samples(summary, PROCESS_MESSAGE, "worker thread", "BusyHook.before_process_message (tests/bench/profiled_app.py:")
    actor = _samples(summary, PROCESS_MESSAGE, "worker thread", "Actor.__call__ (dramatiq/actor.py:")
    # The hook and the actor spin for the same CPU time and the rest of the
    # path is short, so each takes a large and similar share of process_message.
    assert hook > 0.3 * process_message
    assert actor > 0.3 * process_message
    assert 0.5 < hook / actor < 2
    # Each holds the GIL for at least BUSY_SECONDS of CPU time per job, and
    # longer when the machine's other work preempts the thread.
    expected = JOBS * BUSY_SECONDS * RATE_HZ
    assert hook > 0.6 * expected
    assert actor > 0.6 * expected


def test_profiled_app_accounts_for_every_sample(profiled_app_run: dict) -> None:
    summary = summarise_raw_profile(profiled_app_run["text"])
    child_samples = main_samples = 0
    for line in profiled_app_run["text"].splitlines():
        count = int(line.rsplit(" ", 1)[1])
        if CHILD_PROCESS_STACK.match(line):
            child_samples += count
        else:
            main_samples += count
    assert summary.worker_samples == child_samples
    assert sum(part.samples for part in summary.parts) == child_samples
    assert summary.main_samples == main_samples
    assert {part.group for part in summary.parts} <= {PROCESS_MESSAGE, CONSUMER_BROKER_CALLS, OUTSIDE}


def test_profiled_app_sampler_log(profiled_app_run: dict) -> None:
    summary = summarise_raw_profile(profiled_app_run["text"])
    log = read_sampler_log(profiled_app_run["log"], summary.pids)
    # py-spy samples only the worker command and the worker process it forks,
    # and a read can fail while one of them exits.
    assert set(log.failed_reads) <= {"main", "worker"}
    assert all(count <= 2 for count in log.failed_reads.values()), log.failed_reads


def test_fixture_classifies_each_line() -> None:
    expected = [
        # (process frames, group, thread, part)
        (1, None, None, None),
        (2, PROCESS_MESSAGE, "worker thread", "WakeableConsumer.ack (queueadmin/broker.py:677)"),
        (2, PROCESS_MESSAGE, "worker thread", "IdempotentExecution.after_process_message (queueadmin/middleware/idempotency.py:113)"),
        (2, PROCESS_MESSAGE, "worker thread", "JobTracking.after_process_message (queueadmin/middleware/tracking.py:201)"),
        (2, PROCESS_MESSAGE, "worker thread", "ConsumerThread.post_process_message (dramatiq/worker.py:400) (own time)"),
        (2, PROCESS_MESSAGE, "worker thread", "WorkerThread.process_message (dramatiq/worker.py:542) (own time)"),
        (2, CONSUMER_BROKER_CALLS, "consumer thread", "ProjectRedisBroker.fetch (queueadmin/broker.py:438)"),
        (2, OUTSIDE, "consumer thread", "ConsumerThread.handle_message (dramatiq/worker.py:364)"),
        (2, OUTSIDE, "consumer thread", "WakeableConsumer.__next__ (queueadmin/broker.py:689)"),
        (2, OUTSIDE, "worker thread", "Queue.get (queue.py:154)"),
        (2, OUTSIDE, "main thread", "import_broker (dramatiq/cli.py:132)"),
        (2, OUTSIDE, "main thread", "Worker.start (dramatiq/worker.py:105)"),
        (2, OUTSIDE, "thread worker-heartbeat", "WorkerHeartbeat._run (queueadmin/middleware/heartbeat.py:76)"),
    ]
    lines = FIXTURE.read_text().splitlines()
    assert len(lines) == len(expected)
    for line, (processes, group, thread, part) in zip(lines, expected):
        pids, thread_name, frames, count = parse_line(line)
        assert len(pids) == processes, line[:300]
        assert count > 0
        if group is None:
            continue
        summary = summarise_raw_profile(line)
        assert [(p.group, p.thread, p.name) for p in summary.parts] == [(group, thread, part)], line[:300]
        assert summary.worker_samples == count


def test_fixture_summary_totals() -> None:
    text = FIXTURE.read_text()
    summary = summarise_raw_profile(text)
    counts = [int(line.rsplit(" ", 1)[1]) for line in text.splitlines()]
    assert summary.main_samples == counts[0]
    assert summary.worker_samples == sum(counts[1:])
    assert summary.worker_processes == 1
    # Sorted by group, then by samples.
    groups = [part.group for part in summary.parts]
    assert groups == sorted(groups, key=[PROCESS_MESSAGE, CONSUMER_BROKER_CALLS, OUTSIDE].index)
    ack = summary.parts[0]
    assert ack.name == "WakeableConsumer.ack (queueadmin/broker.py:677)"
    assert ack.samples == max(part.samples for part in summary.parts if part.group == PROCESS_MESSAGE)


def test_parse_line_rejects_missing_count() -> None:
    with pytest.raises(ValueError, match="Invalid py-spy raw line"):
        parse_line('process 1:"python";thread (1): MainThread;<module> (x.py:1)')


def test_sampler_log_counts_by_role() -> None:
    log = "\n".join(
        [
            "[2026-12-05T04:45:24Z WARN  py_spy] Failed to get stack trace from 10: Failed to copy PyThreadState head pointer",
            "[2026-12-05T04:45:25Z WARN  py_spy] Failed to get stack trace from 10: Failed to copy PyThreadState head pointer",
            "[2026-12-05T04:45:25Z WARN  py_spy] Failed to get stack trace from 11: No such process",
            "[2026-12-05T04:45:26Z WARN  py_spy] Failed to get stack trace from 99: No such process",
            "py-spy> 1.52s behind in sampling, results may be inaccurate. Try reducing the sampling rate",
        ]
    )
    result = read_sampler_log(log, {"main": [10], "worker": [11]})
    assert result.failed_reads == {"main": 2, "worker": 1, "other": 1}
    assert result.delays == ["1.52s"]
