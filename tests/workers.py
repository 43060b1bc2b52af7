"""Start real worker processes for the tests and wait until they consume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

BASE_DIR = Path(__file__).resolve().parent.parent
READY_LINE = "is ready for action"


def database_url() -> str:
    """Return a URL of the test database for subprocesses."""
    params = connection.settings_dict
    if params["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{params['NAME']}"
    user = params.get("USER") or ""
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{params['NAME']}"


def subprocess_env(**overrides: str) -> dict[str, str]:
    """Return the environment for a manage.py subprocess of this test session."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        REDIS_URL=settings.REDIS_URL,
        DATABASE_URL=database_url(),
        QUEUE_REDIS_NAMESPACE=settings.QUEUE_REDIS_NAMESPACE,
        VAR_DIR=str(settings.VAR_DIR),
        PYTHONUNBUFFERED="1",
        # Dramatiq's worker timeout (ms) bounds each wait of its consumer and
        # worker threads, and so how long a stopping worker takes: 1 s per
        # stage by default, which adds seconds to every test that stops one.
        dramatiq_worker_timeout="100",
    )
    env.update(overrides)
    return env


class WorkerProcess:
    """A ``manage.py`` worker command running as a subprocess.

    Its output is collected in ``lines`` by a reader thread, so tests can
    wait for log lines and print them when something fails.
    """

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.args = args
        self.process = subprocess.Popen(
            [sys.executable, str(BASE_DIR / "manage.py"), *args],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def count(self, text: str) -> int:
        return sum(1 for line in list(self.lines) if text in line)

    def wait_for_line(self, text: str, *, times: int = 1, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count(text) < times:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"Worker exited with {self.process.returncode} before {text!r}:\n{self.output}"
                )
            if time.monotonic() >= deadline:
                raise AssertionError(f"No {text!r} within {timeout} s:\n{self.output}")
            time.sleep(0.05)

    def is_running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 60.0, *, graceful: bool = False) -> int:
        """Send SIGTERM, wait, and return the exit code.

        By default the whole process group gets the signal, so the worker
        processes get it twice (once from the master) and exit at once.
        ``graceful`` signals the master alone, as ``runworkers`` does, so the
        workers shut down gracefully.
        """
        if self.process.poll() is None:
            if graceful:
                os.kill(self.process.pid, signal.SIGTERM)
            else:
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._reader.join(timeout=5)
        return self.process.returncode


def start_worker(
    queues: list[str] | None = None,
    *,
    threads: int = 2,
    processes: int = 1,
    extra_args: list[str] | None = None,
    **env: str,
) -> WorkerProcess:
    """Start ``rundramatiq`` for ``queues`` (all by default) and wait until it consumes."""
    from queueadmin.queues import QUEUES

    queue_names = queues or list(QUEUES)
    args = [
        "rundramatiq",
        "--skip-logging",
        "--processes", str(processes),
        "--threads", str(threads),
        "--worker-shutdown-timeout", str(settings.QUEUE_SHUTDOWN_GRACE_SECONDS * 1000),
        *(extra_args or []),
        "--queues", *queue_names,
    ]
    worker = WorkerProcess(args, subprocess_env(**env))
    worker.wait_for_line(READY_LINE, times=processes, timeout=60)
    return worker


def kill_worker(worker: WorkerProcess) -> None:
    """SIGKILL the worker's whole process group, as a host or OOM crash would."""
    os.killpg(worker.process.pid, signal.SIGKILL)
    worker.process.wait(timeout=30)
