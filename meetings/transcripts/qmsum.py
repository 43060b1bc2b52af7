"""QMSum JSON: an object whose ``meeting_transcripts`` lists speaker turns."""

from __future__ import annotations

import json
from typing import Any

from .core import UNKNOWN_SPEAKER, TranscriptFormatError, Utterance

_KEY = "meeting_transcripts"


def parse(text: str) -> list[Utterance]:
    """Parse QMSum JSON into one utterance per ``meeting_transcripts`` entry.

    Every entry is kept in order, including entries whose content is only
    non-speech markers such as ``{vocalsound}``. QMSum has no timestamps, so start
    and end are None. A blank speaker becomes "Unknown".

    Raises TranscriptFormatError when the text is not valid JSON or the JSON does
    not have the QMSum shape, naming the first invalid entry.
    """
    document = _load_json(text)
    entries = _transcript_entries(document)
    return [_entry_utterance(index, entry) for index, entry in enumerate(entries)]


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise TranscriptFormatError(
            f"The transcript looks like JSON but is invalid at line {error.lineno} "
            f"column {error.colno} ({error.msg}), so fix the JSON syntax there."
        ) from error


def _transcript_entries(document: Any) -> list[Any]:
    if not isinstance(document, dict):
        raise TranscriptFormatError(
            f'QMSum JSON must be an object with a "{_KEY}" list, '
            f"but the top level is {_json_type(document)}."
        )
    if _KEY not in document:
        raise TranscriptFormatError(
            f'QMSum JSON is missing the "{_KEY}" list of '
            '{"speaker", "content"} objects.'
        )
    entries = document[_KEY]
    if not isinstance(entries, list):
        raise TranscriptFormatError(
            f"{_KEY} must be a list of speaker turns, but it is "
            f"{_json_type(entries)}."
        )
    if not entries:
        raise TranscriptFormatError(
            f"{_KEY} is empty, so the transcript contains no speaker turns."
        )
    return entries


def _entry_utterance(index: int, entry: Any) -> Utterance:
    path = f"{_KEY}[{index}]"
    if not isinstance(entry, dict):
        raise TranscriptFormatError(
            f'{path} must be an object with "speaker" and "content", '
            f"but it is {_json_type(entry)}."
        )
    speaker = _required_string(entry, "speaker", path)
    content = _required_string(entry, "content", path)
    return Utterance(speaker=speaker.strip() or UNKNOWN_SPEAKER, text=content)


def _required_string(entry: dict[str, Any], key: str, path: str) -> str:
    if key not in entry:
        raise TranscriptFormatError(
            f"{path}.{key} is missing, so add it to that entry of the QMSum JSON."
        )
    value = entry[key]
    if not isinstance(value, str):
        raise TranscriptFormatError(
            f"{path}.{key} must be a string, but it is {_json_type(value)}."
        )
    return value


def _json_type(value: Any) -> str:
    """Return the JSON type name of a decoded value with an article, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
