"""The ``runworkers`` supervisor: restarts after a worker dies, gives up when it dies too often."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from notifications.tasks import send_email
from queueadmin.models import JobRecord, JobStatus
from tests.helpers import wait_until
from tests.workers import READY_LINE, WorkerProcess, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)

SUPERVISOR_ARGS = [
    "runworkers", "--queues", "emails", "--max-restarts", "2", "--restart-window", "60"
]
READY_TIMEOUT = 90


def child_pids(pid: int) -> list[int]:
    """Return the pids of the direct children of ``pid``, read from /proc."""
    children_file = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(child) for child in children_file.read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def send_and_wait_for_success(title: str) -> JobRecord:
    """Send an email job and return its record once its status is succeeded."""
    job_id = send_email.enqueue(
        to="worker@example.com",
        template="meeting_summary",
        context={"meeting_title": title, "analysis": {"word_count": 3}},
    )
    return wait_until(
        lambda: JobRecord.objects.filter(job_id=job_id, status=JobStatus.SUCCEEDED).first(),
        timeout=READY_TIMEOUT,
    )


def command_line(pid: int) -> list[str]:
    """Return the arguments of ``pid``; none when it has exited."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except (FileNotFoundError, ProcessLookupError):
        return []


def dramatiq_master_pids(supervisor: WorkerProcess) -> list[int]:
    """Return the supervised Dramatiq masters, leaving out the record writer."""
    # rundramatiq replaces itself with Dramatiq's command, which keeps --queues.
    return [pid for pid in child_pids(supervisor.process.pid) if "--queues" in command_line(pid)]


def dramatiq_worker_pids(supervisor: WorkerProcess) -> list[int]:
    """Return the Dramatiq worker processes: children of the supervised masters."""
    return [
        worker_pid
        for master_pid in dramatiq_master_pids(supervisor)
        for worker_pid in child_pids(master_pid)
    ]


def kill_one_worker(supervisor: WorkerProcess) -> int:
    pids = wait_until(lambda: dramatiq_worker_pids(supervisor), timeout=30)
    os.kill(pids[0], signal.SIGKILL)
    return pids[0]


@pytest.fixture
def supervisor(broker, transactional_db) -> Iterator[WorkerProcess]:
    process = WorkerProcess(SUPERVISOR_ARGS, subprocess_env())
    yield process
    process.stop()


def test_supervisor_restarts_killed_worker(supervisor: WorkerProcess) -> None:
    supervisor.wait_for_line(READY_LINE, timeout=READY_TIMEOUT)

    killed_pid = kill_one_worker(supervisor)
    supervisor.wait_for_line(READY_LINE, times=2, timeout=READY_TIMEOUT)

    assert supervisor.is_running()
    assert killed_pid not in dramatiq_worker_pids(supervisor)
    assert supervisor.count("restarting in") == 1
    record = send_and_wait_for_success("After restart")
    assert record.attempts == 1


def process_alive(pid: int) -> bool:
    status_file = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" not in status_file.read_text()
    except FileNotFoundError:
        return False


def test_supervisor_killed_master_leaves_no_orphans(supervisor: WorkerProcess) -> None:
    supervisor.wait_for_line(READY_LINE, timeout=READY_TIMEOUT)
    [master_pid] = dramatiq_master_pids(supervisor)
    old_worker_pids = wait_until(lambda: child_pids(master_pid), timeout=30)

    os.kill(master_pid, signal.SIGKILL)
    supervisor.wait_for_line(READY_LINE, times=2, timeout=READY_TIMEOUT)

    for pid in old_worker_pids:
        assert wait_until(lambda: not process_alive(pid), timeout=30), f"worker {pid} orphaned"


def test_supervisor_gives_up_after_max_restarts(supervisor: WorkerProcess) -> None:
    for ready_count in (1, 2, 3):
        supervisor.wait_for_line(READY_LINE, times=ready_count, timeout=READY_TIMEOUT)
        kill_one_worker(supervisor)

    try:
        code = supervisor.process.wait(timeout=READY_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"runworkers still running after the last kill:\n{supervisor.output}")

    assert code == 1
    assert "giving up" in supervisor.output
    assert supervisor.count(READY_LINE) == 3


def test_supervisor_stops_on_sigterm(supervisor: WorkerProcess) -> None:
    supervisor.wait_for_line(READY_LINE, timeout=READY_TIMEOUT)
    master_pids = child_pids(supervisor.process.pid)

    supervisor.process.send_signal(signal.SIGTERM)
    code = supervisor.process.wait(timeout=READY_TIMEOUT)

    assert code == 0
    assert master_pids
    for pid in master_pids:
        assert not Path(f"/proc/{pid}").exists()


def option_value(arguments: list[str], option: str) -> str:
    return arguments[arguments.index(option) + 1]


def test_runworkers_threads_from_settings(broker, transactional_db) -> None:
    env = subprocess_env(QUEUE_CONCURRENCY_EMAIL="3", QUEUE_CONCURRENCY_MEETING="2")
    process = WorkerProcess(["runworkers", "--queues", "emails", "meetings"], env)
    try:
        process.wait_for_line(READY_LINE, times=2, timeout=READY_TIMEOUT)
        masters = [command_line(pid) for pid in dramatiq_master_pids(process)]
    finally:
        process.stop()

    threads = {option_value(args, "--queues"): option_value(args, "--threads") for args in masters}
    assert threads == {"emails": "3", "meetings": "2"}


def test_runworkers_unknown_queue() -> None:
    with pytest.raises(CommandError) as caught:
        call_command("runworkers", "--queues", "emails", "reports")

    message = str(caught.value)
    assert "'reports'" in message
    assert "meetings, emails, external_api" in message


def environment(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(entry.split("=", 1) for entry in entries if "=" in entry)


def test_runworkers_starts_record_writer(broker, transactional_db) -> None:
    # The default, "auto": runworkers writes the records in a process of its own.
    env = subprocess_env()
    env.pop("QUEUE_RECORD_WRITER", None)
    process = WorkerProcess(["runworkers", "--queues", "emails"], env)
    try:
        process.wait_for_line(READY_LINE, times=1, timeout=READY_TIMEOUT)
        process.wait_for_line("Writing job records", timeout=READY_TIMEOUT)
        children = {pid: command_line(pid) for pid in child_pids(process.process.pid)}
        worker_environments = [
            environment(pid) for pid, args in children.items() if "--queues" in args
        ]
        record = send_and_wait_for_success("Recorded")
    finally:
        process.stop(graceful=True)

    assert any("write_job_records" in args for args in children.values())
    # rundramatiq replaces itself with Dramatiq's command, which keeps --queues.
    assert len(worker_environments) == 1
    # The worker leaves the records to the writer.
    assert worker_environments[0]["QUEUE_RECORD_WRITER"] == "process"
    assert record.attempts == 1


def test_runworkers_worker_mode_no_writer(broker, transactional_db) -> None:
    process = WorkerProcess(
        ["runworkers", "--queues", "emails"], subprocess_env(QUEUE_RECORD_WRITER="worker")
    )
    try:
        process.wait_for_line(READY_LINE, times=1, timeout=READY_TIMEOUT)
        children = [command_line(pid) for pid in child_pids(process.process.pid)]
    finally:
        process.stop(graceful=True)

    assert len(children) == 1
    assert not any("write_job_records" in args for args in children)
