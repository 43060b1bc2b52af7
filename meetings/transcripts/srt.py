"""SubRip (SRT) captions, read with webvtt-py after a strict check of the cues."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from .core import (
    TranscriptFormatError,
    Utterance,
    clock_to_seconds,
    excerpt,
    split_lines,
)
from .webvtt import captions_to_utterances

_TIMESTAMP = r"(\d+):(\d{2}):(\d{2})[,.](\d{3})"
# SRT timing lines may end with display coordinates such as "X1:40 X2:600".
_CUE_TIMING = re.compile(rf"{_TIMESTAMP}[ \t]*-->[ \t]*{_TIMESTAMP}(?:[ \t].*)?")
# A line after a cue number that starts like a timestamp but may lack the arrow.
_TIMING_START = re.compile(r"\s*\d+:\d")
_EXAMPLE_TIMING = "00:00:01,000 --> 00:00:04,000"


def parse(text: str) -> list[Utterance]:
    """Parse SRT captions into utterances with cue start and end in seconds.

    A speaker comes from a ``Name: text`` prefix at the start of a cue line.
    Raises TranscriptFormatError naming the line of the first malformed cue, or
    when no cue contains text.
    """
    _validate_cues(text)
    try:
        captions = webvtt.from_buffer(io.StringIO(text.lstrip()), format="srt")
    except (MalformedFileError, MalformedCaptionError) as error:
        raise TranscriptFormatError(
            f"The SRT file is invalid ({error}), so check that each cue is a "
            "number line, a timing line and text."
        ) from error
    utterances = captions_to_utterances(captions.captions)
    if not utterances:
        raise TranscriptFormatError(
            "The SRT file contains no cues with text, so add at least one cue."
        )
    return utterances


def _validate_cues(text: str) -> None:
    """Raise TranscriptFormatError for the first malformed cue timing.

    webvtt-py 0.6 reports none of these. It drops a cue whose timing it cannot
    read or that has no cue number, and it reads 00:00:75,000 as 75 seconds.
    """
    for first_line_number, block in _iter_blocks(split_lines(text)):
        for offset, line in enumerate(block):
            follows_number = offset > 0 and block[offset - 1].strip().isdigit()
            looks_like_timing = "-->" in line or (
                offset == 1 and follows_number and _TIMING_START.match(line)
            )
            if looks_like_timing:
                _validate_timing_line(first_line_number + offset, line, follows_number)


def _iter_blocks(lines: list[str]) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(first line number, lines)`` for each run of non-blank lines."""
    block: list[str] = []
    first_line_number = 0
    for line_number, line in enumerate(lines, start=1):
        if line.strip():
            if not block:
                first_line_number = line_number
            block.append(line)
        elif block:
            yield first_line_number, block
            block = []
    if block:
        yield first_line_number, block


def _validate_timing_line(line_number: int, line: str, follows_number: bool) -> None:
    if not follows_number:
        raise TranscriptFormatError(
            f"The SRT cue timing on line {line_number} has no cue number on the "
            "line above it, so add the cue number there."
        )
    match = _CUE_TIMING.fullmatch(line.strip())
    start = None if match is None else clock_to_seconds(*match.groups()[:4])
    end = None if match is None else clock_to_seconds(*match.groups()[4:])
    if start is None or end is None:
        raise TranscriptFormatError(
            f'Line {line_number} of the SRT file has an invalid cue timing '
            f'"{excerpt(line)}", so write it as {_EXAMPLE_TIMING}.'
        )
    if end < start:
        raise TranscriptFormatError(
            f'The SRT cue timing on line {line_number} ends before it starts '
            f'("{excerpt(line)}"), so fix the start or end time.'
        )
