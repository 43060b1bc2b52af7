"""Small helpers for tests that wait on other processes."""

from __future__ import annotations

import os
import signal
import time
import traceback
from collections.abc import Callable


def wait_until(condition: Callable[[], object], *, timeout: float = 30.0, interval: float = 0.05):
    """Poll ``condition`` until it returns a true value, and return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"Condition not met within {timeout} s: {condition}")
        time.sleep(interval)


def fork_child(function: Callable[[], object]) -> int:
    """Fork a child that calls ``function``, and return the child's pid.

    The child exits with 0, or with 1 after printing the traceback when
    ``function`` raised. It leaves with ``os._exit``, so it runs none of the
    parent's clean-up.
    """
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            function()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def wait_for_child(pid: int, *, timeout: float = 10.0) -> int | None:
    """Return the exit code of a forked child, or kill it and return None after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None
