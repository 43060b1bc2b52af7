"""The tagged JSON encoding of payloads: round trips and rejected values."""

from __future__ import annotations

import json
import math
import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import dramatiq
import pytest

from queueadmin.encoding import decode_message, decode_value, encode_message, encode_value
from queueadmin.errors import UnencodableValueError

IST = timezone(timedelta(hours=5, minutes=30))

ROUND_TRIP_VALUES = {
    "aware_datetime": datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=IST),
    "utc_datetime": datetime(2026, 3, 1, 4, 0, tzinfo=timezone.utc),
    "naive_datetime": datetime(2026, 3, 1, 9, 30),
    "date": date(2026, 2, 28),
    "time": time(23, 59, 58, 1000),
    "aware_time": time(8, 15, tzinfo=IST),
    "timedelta": timedelta(days=-2, seconds=5, microseconds=7),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "decimal": Decimal("12.3400"),
    "bytes": b"\x00\xffbinary",
    "tuple": (1, "two", Decimal("3")),
    "nested": {"items": [{"at": date(2026, 1, 1)}, (uuid.UUID(int=1),)]},
    "type_key_dict": {"$type": "datetime", "value": "not a tag"},
    "text": "会议 café",
    "plain": [None, True, 0, -1.5, "", {}],
}


def round_trip(value: object) -> object:
    """Encode, pass through JSON text as the broker does, and decode."""
    return decode_value(json.loads(json.dumps(encode_value(value))))


@pytest.mark.parametrize("name", ROUND_TRIP_VALUES)
def test_round_trip_value(name: str) -> None:
    value = ROUND_TRIP_VALUES[name]

    decoded = round_trip(value)

    assert decoded == value
    assert type(decoded) is type(value)


def test_round_trip_aware_offset() -> None:
    value = ROUND_TRIP_VALUES["aware_datetime"]

    decoded = round_trip(value)

    assert decoded.utcoffset() == timedelta(hours=5, minutes=30)


def test_round_trip_naive_stays_naive() -> None:
    decoded = round_trip(ROUND_TRIP_VALUES["naive_datetime"])

    assert decoded.tzinfo is None


def test_round_trip_decimal_digits() -> None:
    decoded = round_trip(Decimal("12.3400"))

    assert str(decoded) == "12.3400"


def test_round_trip_tuple_items() -> None:
    decoded = round_trip({"pair": (datetime(2026, 1, 1, tzinfo=timezone.utc), b"x")})

    assert isinstance(decoded["pair"], tuple)
    assert isinstance(decoded["pair"][0], datetime)
    assert isinstance(decoded["pair"][1], bytes)


def test_round_trip_type_key_dict_kept() -> None:
    value = {"outer": {"$type": "uuid", "value": "not-a-uuid", "other": 1}}

    decoded = round_trip(value)

    assert decoded == value


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_round_trip_special_float(value: float) -> None:
    encoded_text = json.dumps(encode_value(value), allow_nan=False)

    decoded = decode_value(json.loads(encoded_text))

    assert isinstance(decoded, float)
    if math.isnan(value):
        assert math.isnan(decoded)
    else:
        assert decoded == value


def test_encode_finite_float_untagged() -> None:
    assert encode_value(1.25) == 1.25


def test_encode_rejects_object_with_path() -> None:
    value = {"extra": {"obj": object()}}

    with pytest.raises(UnencodableValueError) as caught:
        encode_value(value, "payload")

    assert caught.value.path == "payload.extra.obj"
    assert "payload.extra.obj" in str(caught.value)
    assert "object" in str(caught.value)


def test_encode_rejects_item_in_list() -> None:
    with pytest.raises(UnencodableValueError) as caught:
        encode_value({"items": [1, {2, 3}]}, "payload")

    assert caught.value.path == "payload.items[1]"
    assert "set" in str(caught.value)


def test_encode_rejects_integer_key() -> None:
    with pytest.raises(UnencodableValueError) as caught:
        encode_value({"counts": {1: "one"}}, "payload")

    assert "payload.counts" in caught.value.path
    assert "1" in caught.value.path


def test_encode_rejects_tuple_key() -> None:
    with pytest.raises(UnencodableValueError):
        encode_value({("a", "b"): 1}, "payload")


def test_decode_unknown_tag_rejected() -> None:
    with pytest.raises(ValueError) as caught:
        decode_value({"$type": "complex", "value": "1+2j"})

    assert "complex" in str(caught.value)


def test_encode_message_decodes_as_dramatiq_encoding() -> None:
    message = dramatiq.Message(
        queue_name="meetings",
        actor_name="note_job",
        args=({"key": "Grüße", "when": encode_value(datetime(2026, 1, 2, tzinfo=timezone.utc))},),
        kwargs={},
        options={"envelope": {"idempotency_key": "k-1", "metadata": {}}, "priority": "high"},
    )

    assert dramatiq.Message.decode(encode_message(message)) == dramatiq.Message.decode(message.encode())


def test_encode_message_leaves_out_other_attributes() -> None:
    message = dramatiq.Message(
        queue_name="meetings", actor_name="note_job", args=({"key": "a"},), kwargs={},
        options={"envelope": {"idempotency_key": "k-1"}},
    )
    expected = encode_message(message)
    object.__setattr__(message, "trace", "set by other code")

    assert encode_message(message) == expected
    assert "trace" not in json.loads(encode_message(message))


def test_encode_message_falls_back_for_large_integers() -> None:
    # orjson writes integers of up to 64 bits; the standard library any size.
    message = dramatiq.Message(
        queue_name="meetings",
        actor_name="note_job",
        args=({"count": 2**70},),
        kwargs={},
        options={"envelope": {"idempotency_key": "k-1"}},
    )

    assert dramatiq.Message.decode(encode_message(message)).args[0]["count"] == 2**70


def test_encode_returns_plain_dict_itself() -> None:
    plain = {"key": "a", "count": 3, "flag": True, "none": None}

    assert encode_value(plain) is plain
    assert encode_value({"$type": "x"}) == {"$type": "dict", "value": {"$type": "x"}}


def _plain_message(*args: object) -> dramatiq.Message:
    # A message without the project's envelope, such as the one that
    # Dramatiq's Callbacks middleware sends with a job's result.
    return dramatiq.Message(queue_name="meetings", actor_name="note_job", args=args, kwargs={}, options={})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_encode_message_keeps_special_floats(value: float) -> None:
    decoded = dramatiq.Message.decode(encode_message(_plain_message(value))).args[0]

    assert isinstance(decoded, float)
    if math.isnan(value):
        assert math.isnan(decoded)
    else:
        assert decoded == value


@pytest.mark.parametrize(
    "value",
    [datetime(2026, 1, 2, tzinfo=timezone.utc), uuid.UUID(int=5), date(2026, 1, 2)],
    ids=["datetime", "uuid", "date"],
)
def test_encode_message_rejects_like_dramatiq(value: object) -> None:
    # Dramatiq's JSON encoder rejects these, so the worker never receives a
    # string in place of the object.
    with pytest.raises(TypeError):
        _plain_message(value).encode()

    with pytest.raises(TypeError):
        encode_message(_plain_message(value))


@pytest.mark.parametrize(
    "args",
    [({"key": "Grüße", "count": 3},), ({"count": 2**70},), (float("inf"),)],
    ids=["job", "large-integer", "infinity"],
)
def test_decode_message_matches_dramatiq(args: tuple) -> None:
    data = _plain_message(*args).encode()

    assert decode_message(data) == dramatiq.Message.decode(data)


def test_decode_message_raises_dramatiq_decode_error() -> None:
    with pytest.raises(dramatiq.DecodeError):
        decode_message(b'{"queue_name": "meetings"')
    with pytest.raises(dramatiq.DecodeError):
        decode_message(b'{"queue_name": "meetings", "args": []}')
