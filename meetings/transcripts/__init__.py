"""Transcript parsing for QMSum JSON, WebVTT, SRT and plain ``Speaker: text`` files.

``parse_transcript`` detects the format from the content and returns the
utterances in order.
"""

from __future__ import annotations

from . import plain, qmsum, srt, webvtt
from .core import (
    ACCEPTED_FORMATS,
    ParsedTranscript,
    TranscriptFormatError,
    Utterance,
)
from .detect import detect_format

__all__ = [
    "ACCEPTED_FORMATS",
    "ParsedTranscript",
    "TranscriptFormatError",
    "Utterance",
    "detect_format",
    "parse_transcript",
]

_PARSERS = {
    "qmsum": qmsum.parse,
    "webvtt": webvtt.parse,
    "srt": srt.parse,
    "plain": plain.parse,
}


def parse_transcript(content: bytes | str) -> ParsedTranscript:
    """Detect the format of a transcript and parse it into utterances.

    Bytes are decoded as UTF-8, and a leading byte order mark is removed from bytes
    and strings alike. Raises TranscriptFormatError with a message for the user when
    the content is empty, binary, not UTF-8, in no accepted format or malformed.
    """
    text = _decode(content)
    if not text:
        raise TranscriptFormatError(
            "The transcript is empty, so upload a file that contains the meeting."
        )
    if not text.strip():
        raise TranscriptFormatError(
            "The transcript contains only whitespace, so upload a file that "
            "contains the meeting."
        )
    transcript_format = detect_format(text)
    utterances = _PARSERS[transcript_format](text)
    if any("\x00" in item.speaker or "\x00" in item.text for item in utterances):
        # An escaped NUL (for example "\u0000" in JSON) survives decoding, and
        # databases such as PostgreSQL reject it in text columns.
        raise _binary_error()
    return ParsedTranscript(format=transcript_format, utterances=utterances)


def _decode(content: bytes | str) -> str:
    if isinstance(content, bytes):
        if b"\x00" in content:
            raise _binary_error()
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as error:
            raise TranscriptFormatError(
                f"The transcript is not UTF-8 text (byte 0x{content[error.start]:02x} "
                f"at offset {error.start} is invalid), so save it as UTF-8 and "
                "upload it again."
            ) from error
    else:
        text = content
    if "\x00" in text:
        raise _binary_error()
    return text.removeprefix("\ufeff")


def _binary_error() -> TranscriptFormatError:
    return TranscriptFormatError(
        "The transcript is a binary file because it contains NUL bytes, so upload "
        "it as UTF-8 text."
    )
