"""Run one ``rundramatiq`` per queue and restart any that exits.

Dramatiq's master process exits as a whole when one of its worker processes
dies. The supervisor starts it again after a back-off, and gives up with a
non-zero exit code when a queue's workers die too often, so that it never
hangs half-alive.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass
class WorkerGroup:
    """One ``rundramatiq`` command line and its restart history."""

    name: str
    command: list[str]
    process: subprocess.Popen | None = None
    restarts: list[float] = field(default_factory=list)
    next_start: float = 0.0


@dataclass
class RestartPolicy:
    max_restarts: int = 5
    window_seconds: float = 60.0
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0

    def delay(self, recent_restarts: int) -> float:
        return min(self.backoff_seconds * 2 ** max(recent_restarts - 1, 0), self.max_backoff_seconds)


def build_worker_command(
    manage_py: Path, queue: str, threads: int, *, processes: int = 1, extra: list[str] | None = None
) -> list[str]:
    return [
        sys.executable,
        str(manage_py),
        "rundramatiq",
        "--skip-logging",
        "--queues", queue,
        "--processes", str(processes),
        "--threads", str(threads),
        *(extra or []),
    ]


class Supervisor:
    """Keep every worker group running until stopped or out of restarts."""

    def __init__(self, groups: list[WorkerGroup], policy: RestartPolicy, *, cwd: Path) -> None:
        self.groups = groups
        self.policy = policy
        self.cwd = cwd
        self._stopping = False
        self.exit_code = 0

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        for group in self.groups:
            self._start(group)
        while not self._stopping:
            self._check_groups()
            time.sleep(0.2)
        self._stop_all()
        return self.exit_code

    def _request_stop(self, signum, frame) -> None:
        logger.info("Received signal %s; stopping the workers.", signum)
        self._stopping = True

    def _start(self, group: WorkerGroup) -> None:
        # Each group gets its own process group, so that the worker processes
        # of a master that died are stopped before a new master starts.
        group.process = subprocess.Popen(group.command, cwd=self.cwd, start_new_session=True)
        logger.info("Started workers for %s: pid %s.", group.name, group.process.pid)

    def _check_groups(self) -> None:
        now = time.monotonic()
        for group in self.groups:
            if group.process is not None:
                code = group.process.poll()
                if code is None:
                    continue
                _stop_process_group(group.process.pid)
                self._schedule_restart(group, code, now)
            elif now >= group.next_start:
                self._start(group)

    def _schedule_restart(self, group: WorkerGroup, code: int, now: float) -> None:
        group.process = None
        group.restarts = [t for t in group.restarts if now - t < self.policy.window_seconds]
        group.restarts.append(now)
        if len(group.restarts) > self.policy.max_restarts:
            logger.error(
                "Workers for %s exited %d times within %.0f s (last code %s); giving up.",
                group.name,
                len(group.restarts),
                self.policy.window_seconds,
                code,
            )
            self.exit_code = 1
            self._stopping = True
            return
        delay = self.policy.delay(len(group.restarts))
        group.next_start = now + delay
        logger.warning(
            "Workers for %s exited with code %s; restarting in %.1f s.", group.name, code, delay
        )

    def _stop_all(self) -> None:
        running = [group.process for group in self.groups if group.process is not None]
        for process in running:
            _signal_group(process.pid, signal.SIGTERM)
        for process in running:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                logger.error("Worker pid %s did not stop within 60 s; killing it.", process.pid)
            _stop_process_group(process.pid)
            process.wait()


def _signal_group(pgid: int, signum: int) -> bool:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def _stop_process_group(pgid: int, timeout: float = 30.0) -> None:
    """Stop what is left of a worker's process group: SIGTERM, then SIGKILL."""
    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _signal_group(pgid, 0):
            return
        time.sleep(0.1)
    logger.error("Process group %s did not stop within %.0f s; killing it.", pgid, timeout)
    _signal_group(pgid, signal.SIGKILL)
