"""Start, watch and stop the processes of a benchmark run.

Every process starts in a session of its own, so that stopping it signals
its whole process group (a Dramatiq master and its workers, a Celery parent
and its pool). Output goes to a log file, not a pipe, so that a chatty worker
neither blocks on a full pipe nor costs the orchestrator CPU time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

BASE_DIR = Path(__file__).resolve().parents[2]

#: Seconds between two RSS samples of a watched process tree.
RSS_SAMPLE_INTERVAL_SECONDS = 0.05

#: Samples that must find a process before it counts as one of the tree's.
MIN_SAMPLES_PER_PROCESS = 2

#: Every long-running process this orchestrator started and has not stopped yet.
_running: dict[int, ManagedProcess] = {}
#: Every child of ``run_json_child`` that has not exited yet.
_json_children: dict[int, subprocess.Popen] = {}


class ChildFailed(RuntimeError):
    """Raised when a child process exits with an error or prints no result."""


class ManagedProcess:
    """A process started in its own session, with its output in ``log_path``."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "wb")
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            args,
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _running[self.process.pid] = self

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, *, times: int = 1, timeout: float) -> None:
        """Wait until ``text`` occurs ``times`` times in the output.

        Raises:
          ChildFailed: the process exited first.
          TimeoutError: ``timeout`` seconds passed first.
        """
        deadline = time.monotonic() + timeout
        while self.output().count(text) < times:
            if self.process.poll() is not None:
                raise ChildFailed(
                    f"{self.args[:3]} exited with {self.process.returncode} before "
                    f"{text!r}; see {self.log_path}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"No {text!r} from {self.args[:3]} within {timeout} s; see {self.log_path}")
            time.sleep(0.05)

    def stop(self, *, graceful_seconds: float = 30.0) -> int:
        """Send SIGTERM to the process group, wait, then SIGKILL.

        Returns the exit code.
        """
        try:
            if self.process.poll() is None:
                self._signal_group(signal.SIGTERM)
                try:
                    self.process.wait(timeout=graceful_seconds)
                except subprocess.TimeoutExpired:
                    self._signal_group(signal.SIGKILL)
                    self.process.wait(timeout=30)
            # Children that outlived their parent are still in the group.
            self._signal_group(signal.SIGKILL)
        finally:
            self._log.close()
            _running.pop(self.process.pid, None)
        return self.process.returncode

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass


def stop_all() -> None:
    """Stop every process that this orchestrator started and that still runs."""
    for process in list(_running.values()):
        process.stop(graceful_seconds=5)
    for child in list(_json_children.values()):
        _kill_group(child)


def _kill_group(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def python_command(*args: str) -> list[str]:
    """Return the command line that runs ``args`` with this interpreter."""
    return [sys.executable, *args]


def script_command(name: str, *args: str) -> list[str]:
    """Return the command line of a console script installed beside this interpreter."""
    return [str(Path(sys.executable).parent / name), *args]


def run_json_child(args: list[str], env: dict[str, str], log_path: Path, timeout: float) -> dict:
    """Run a child process to its end and return the JSON object on its last stdout line.

    Its stderr goes to ``log_path``.

    Raises:
      ChildFailed: the child exited with an error or printed no JSON.
      TimeoutError: the child ran longer than ``timeout`` seconds (it is killed).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            args, cwd=BASE_DIR, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=log, start_new_session=True,
        )
        _json_children[process.pid] = process
        try:
            stdout, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise TimeoutError(f"{args[1:4]} ran longer than {timeout} s; see {log_path}") from None
        finally:
            _kill_group(process)
            _json_children.pop(process.pid, None)
    lines = stdout.decode(errors="replace").strip().splitlines()
    if process.returncode != 0 or not lines:
        raise ChildFailed(f"{args[1:4]} exited with {process.returncode}; see {log_path}")
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        raise ChildFailed(f"{args[1:4]} printed no JSON result; see {log_path}") from None


class RssSampler(threading.Thread):
    """Sample the RSS of a process and all its descendants until stopped.

    ``stop`` returns a map of each pid to ``(name, peak RSS in bytes)``,
    where the name is ``main`` for the watched process and ``child`` for the
    others. A process found by fewer than ``MIN_SAMPLES_PER_PROCESS`` samples
    is left out: a short command run at start-up (Celery's banner runs
    ``uname -p`` through the ``platform`` module) is not one of the worker
    command's processes.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(name=f"rss-{pid}", daemon=True)
        self.root_pid = pid
        self.peaks: dict[int, tuple[str, int]] = {}
        self.samples: dict[int, int] = {}
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            self.sample()
            self._stopping.wait(RSS_SAMPLE_INTERVAL_SECONDS)

    def sample(self) -> None:
        try:
            root = psutil.Process(self.root_pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for process in processes:
            try:
                rss = process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
            role = "main" if process.pid == self.root_pid else "child"
            _, peak = self.peaks.get(process.pid, (role, 0))
            self.peaks[process.pid] = (role, max(peak, rss))
            self.samples[process.pid] = self.samples.get(process.pid, 0) + 1

    def stop(self) -> dict[int, tuple[str, int]]:
        self._stopping.set()
        self.join(timeout=5)
        return self.counted_peaks()

    def counted_peaks(self) -> dict[int, tuple[str, int]]:
        """Return the peaks of the processes that enough samples found."""
        return {
            pid: peak
            for pid, peak in self.peaks.items()
            if self.samples[pid] >= MIN_SAMPLES_PER_PROCESS
        }


def start_companions(deployment, log_path) -> list[ManagedProcess]:
    """Start the commands that run beside ``deployment``'s worker command.

    ``log_path(name)`` gives each one's log file. Stop them with ``stop()``.
    """
    return [
        ManagedProcess(command, deployment.env, log_path(name))
        for name, command in deployment.companion_commands().items()
    ]
