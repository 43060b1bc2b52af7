"""Explicit JSON encoding of job payloads and metadata.

JSON holds only null, booleans, numbers, strings, lists and objects. Other
values are written as tagged objects ``{"$type": NAME, "value": ...}`` and
decoded back into the same type, so a ``datetime`` sent arrives as a
``datetime``. Any other object is rejected with ``UnencodableValueError``
rather than turned into a string.
"""

from __future__ import annotations

import base64
import math
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Callable

from queueadmin.errors import UnencodableValueError

TYPE_KEY = "$type"


def _encode_float(value: float) -> Any:
    if math.isfinite(value):
        return value
    return {TYPE_KEY: "float", "value": repr(value)}


def _encode_timedelta(value: timedelta) -> dict:
    return {
        TYPE_KEY: "timedelta",
        "value": [value.days, value.seconds, value.microseconds],
    }


# Order matters: datetime is a subclass of date.
_TAGGED_ENCODERS: tuple[tuple[type, str, Callable[[Any], Any]], ...] = (
    (datetime, "datetime", lambda v: v.isoformat()),
    (date, "date", lambda v: v.isoformat()),
    (time, "time", lambda v: v.isoformat()),
    (uuid.UUID, "uuid", str),
    (Decimal, "decimal", str),
    (bytes, "bytes", lambda v: base64.b64encode(v).decode("ascii")),
)

_DECODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "uuid": uuid.UUID,
    "decimal": Decimal,
    "bytes": base64.b64decode,
    "float": float,
    "timedelta": lambda v: timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
}


def encode_value(value: Any, path: str = "payload") -> Any:
    """Return a JSON-safe copy of ``value``.

    Raises:
      UnencodableValueError: naming the path of the first value that has no
        encoding.
    """
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return _encode_float(value)
    if isinstance(value, timedelta):
        return _encode_timedelta(value)
    for value_type, tag, encoder in _TAGGED_ENCODERS:
        if isinstance(value, value_type):
            return {TYPE_KEY: tag, "value": encoder(value)}
    if isinstance(value, list):
        return [encode_value(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, tuple):
        items = [encode_value(item, f"{path}[{index}]") for index, item in enumerate(value)]
        return {TYPE_KEY: "tuple", "value": items}
    if isinstance(value, dict):
        return _encode_dict(value, path)
    raise UnencodableValueError(path, value)


def _encode_dict(value: dict, path: str) -> dict:
    encoded = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise UnencodableValueError(f"{path} key {key!r}", key)
        encoded[key] = encode_value(item, f"{path}.{key}")
    if TYPE_KEY in encoded:
        # A user dict that happens to use the tag key is wrapped, so that it
        # is never mistaken for a tagged value.
        return {TYPE_KEY: "dict", "value": encoded}
    return encoded


def decode_value(value: Any) -> Any:
    """Invert ``encode_value``."""
    if isinstance(value, list):
        return [decode_value(item) for item in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(TYPE_KEY)
    if tag is None:
        return {key: decode_value(item) for key, item in value.items()}
    if tag == "dict":
        return {key: decode_value(item) for key, item in value["value"].items()}
    if tag == "tuple":
        return tuple(decode_value(item) for item in value["value"])
    try:
        return _DECODERS[tag](value["value"])
    except KeyError:
        raise ValueError(f"Unknown encoded type {tag!r}") from None
