"""Messages built by filling the instance dict equal those of Dramatiq's constructor."""

from __future__ import annotations

import dataclasses

import dramatiq

from queueadmin import messages
from queueadmin.messages import new_message


def test_new_message_equals_constructor() -> None:
    fields = {
        "queue_name": "meetings", "actor_name": "note_job", "args": ({"key": "a"},),
        "kwargs": {"k": 1}, "options": {"priority": "high"}, "message_id": "m-1",
        "message_timestamp": 1_700_000_000_000,
    }

    built = new_message(**fields)

    assert built == dramatiq.Message(**fields)
    assert vars(built) == vars(dramatiq.Message(**fields))
    assert built.encode() == dramatiq.Message(**fields).encode()


def test_new_message_turns_args_into_tuple() -> None:
    built = new_message("meetings", "note_job", [1, 2], {}, {}, "m-2", 1)

    assert built.args == (1, 2)
    assert built == dramatiq.Message(
        queue_name="meetings", actor_name="note_job", args=[1, 2], kwargs={}, options={},
        message_id="m-2", message_timestamp=1,
    )


def test_changed_class_uses_constructor(monkeypatch) -> None:
    @dataclasses.dataclass(frozen=True)
    class MessageWithTrace(dramatiq.Message):
        trace: str = "none"

    assert messages._filling_matches_constructor()
    monkeypatch.setattr(messages, "Message", MessageWithTrace)
    assert not messages._filling_matches_constructor()


def test_fallback_builds_with_constructor() -> None:
    fields = {
        "queue_name": "meetings", "actor_name": "note_job", "args": [1], "kwargs": {},
        "options": {}, "message_id": "m-3", "message_timestamp": 3,
    }

    assert messages._constructed(*fields.values()) == dramatiq.Message(**fields)
    assert messages._constructed(**fields) == dramatiq.Message(**fields)
