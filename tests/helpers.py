"""Small helpers for tests that wait on other processes."""

from __future__ import annotations

import time
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
