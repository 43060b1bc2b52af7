"""Reading a message's priority level."""

from __future__ import annotations

import dramatiq
import pytest

from queueadmin.priorities import PRIORITY_OPTION, Priority, get_priority, priority_value


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("high", "high"),
        ("low", "low"),
        (Priority.HIGH, "high"),
        (None, "normal"),
        ("urgent", "normal"),
        (["high"], "normal"),
        (1, "normal"),
    ],
)
def test_priority_value_matches_get_priority(stored: object, expected: str) -> None:
    options = {} if stored is None else {PRIORITY_OPTION: stored}
    message = dramatiq.Message(queue_name="q", actor_name="a", args=(), kwargs={}, options=options)

    assert priority_value(message) == expected
    assert type(priority_value(message)) is str
    assert get_priority(message).value == expected
