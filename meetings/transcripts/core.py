"""Data types, the format error and helpers shared by the format parsers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

#: Format id to the description used in user-facing messages.
ACCEPTED_FORMATS: Final = MappingProxyType(
    {
        "qmsum": "QMSum JSON",
        "webvtt": "WebVTT",
        "srt": "SRT",
        "plain": 'plain "Speaker: text" lines',
    }
)

#: Speaker of a cue or line that names none.
UNKNOWN_SPEAKER: Final = "Unknown"

# A speaker prefix is a name of one to four words that starts with a letter and
# contains only letters, digits, _ and . ' ’ - ( ) #, followed by a colon and
# whitespace or the end of the line. The whitespace rule keeps "Meet at 10:30" from
# being read as speaker "Meet at 10".
# NOTE: a text line such as "Next steps: ship it" also matches, so it starts an
# utterance by speaker "Next steps".
_SPEAKER_PREFIX = re.compile(
    r"(?P<speaker>[^\W\d_][\w.'’()#-]*(?: [\w.'’()#-]+){0,3})"
    r"\s*:(?:\s+(?P<text>.*))?",
    re.DOTALL,
)
_MAX_SPEAKER_LENGTH: Final = 50
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class TranscriptFormatError(ValueError):
    """Error raised when a transcript cannot be read, with a message for the user."""


@dataclass(frozen=True)
class Utterance:
    """One speaker turn, with start and end in seconds when the format has them."""

    speaker: str
    text: str
    start: float | None = None
    end: float | None = None


@dataclass
class ParsedTranscript:
    """Utterances in transcript order and the id of the format they were read from."""

    format: str
    utterances: list[Utterance] = field(default_factory=list)


def describe_accepted_formats() -> str:
    """Return the accepted formats as an English list for error messages."""
    names = list(ACCEPTED_FORMATS.values())
    return ", ".join(names[:-1]) + " or " + names[-1]


def split_lines(text: str) -> list[str]:
    """Split text on CRLF, CR and LF only, so line numbers match a text editor's."""
    return _LINE_BREAK.split(text)


def clock_to_seconds(
    hours: str | None, minutes: str, seconds: str, milliseconds: str
) -> float | None:
    """Convert timestamp fields to seconds, or return None when a field is out of range.

    Minutes and seconds must be at most 59, as WebVTT and SRT require. A missing
    hours field counts as zero.
    """
    if int(minutes) > 59 or int(seconds) > 59:
        return None
    whole_seconds = int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
    return (whole_seconds * 1000 + int(milliseconds)) / 1000


def excerpt(line: str, max_length: int = 60) -> str:
    """Return a stripped line, cut to max_length characters, to quote in messages."""
    stripped = line.strip()
    if len(stripped) <= max_length:
        return stripped
    return stripped[: max_length - 1] + "…"


def split_speaker_prefix(line: str) -> tuple[str, str] | None:
    """Return ``(speaker, text)`` for a ``Speaker: text`` line, or None without one."""
    match = _SPEAKER_PREFIX.fullmatch(line.strip())
    if match is None or len(match["speaker"]) > _MAX_SPEAKER_LENGTH:
        return None
    return match["speaker"].strip(), (match["text"] or "").strip()
