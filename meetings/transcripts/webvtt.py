"""WebVTT captions, read with webvtt-py after a strict check of the cue timings."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterable, Iterator

import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from .core import (
    UNKNOWN_SPEAKER,
    TranscriptFormatError,
    Utterance,
    clock_to_seconds,
    excerpt,
    split_lines,
    split_speaker_prefix,
)

_TIMESTAMP = r"(?:(\d{2,}):)?(\d{2}):(\d{2})\.(\d{3})"
_CUE_TIMING = re.compile(rf"{_TIMESTAMP}[ \t]+-->[ \t]+{_TIMESTAMP}(?:[ \t].*)?")
_EXAMPLE_TIMING = "00:00:01.000 --> 00:00:04.000"
# Blocks that WebVTT allows besides cues, named by their first word.
_NON_CUE_BLOCK = re.compile(r"(?:NOTE|STYLE|REGION)(?:[ \t]|$)")
# A voice span such as <v Alice> or <v.loud Alice>, with the name in group 1.
_VOICE_TAG = re.compile(r"<v(?:\.[^\s.>]+)*[ \t]+([^>]+)>")


def parse(text: str) -> list[Utterance]:
    """Parse WebVTT captions into utterances with cue start and end in seconds.

    A speaker comes from a ``<v Name>`` voice tag or a ``Name: text`` prefix at the
    start of a cue line. Raises TranscriptFormatError naming the line of the first
    malformed cue, or when no cue contains text.
    """
    _validate_cues(text)
    try:
        captions = webvtt.from_buffer(io.StringIO(text.lstrip())).captions
    except (MalformedFileError, MalformedCaptionError) as error:
        raise TranscriptFormatError(
            f"The WebVTT file is invalid ({error}), so check it against the "
            "WebVTT format."
        ) from error
    utterances = captions_to_utterances(captions)
    if not utterances:
        raise TranscriptFormatError(
            "The WebVTT file contains no cues with text, so add at least one cue."
        )
    return utterances


def captions_to_utterances(captions: Iterable[webvtt.Caption]) -> list[Utterance]:
    """Split each webvtt-py caption into speaker turns that share its timing.

    A line that starts with a voice tag or a speaker prefix starts a turn, and other
    lines continue the current turn. A caption whose first line names no speaker
    starts a turn by "Unknown". Turns without text are dropped.
    """
    utterances = []
    for caption in captions:
        start = caption.start_time.in_milliseconds() / 1000
        end = caption.end_time.in_milliseconds() / 1000
        for speaker, text in _speaker_turns(caption):
            utterances.append(Utterance(speaker, text, start, end))
    return utterances


def _speaker_turns(caption: webvtt.Caption) -> list[tuple[str, str]]:
    turns: list[tuple[str, list[str]]] = []
    # caption.text is caption.lines joined by "\n" with the cue tags removed.
    tagless_lines = caption.text.split("\n")
    for raw_line, tagless_line in zip(caption.lines, tagless_lines, strict=True):
        speaker, text = _line_speaker(raw_line, html.unescape(tagless_line).strip())
        if speaker is None and turns:
            turns[-1][1].append(text)
        else:
            turns.append((speaker or UNKNOWN_SPEAKER, [text]))

    joined_turns = [
        (speaker, " ".join(filter(None, parts))) for speaker, parts in turns
    ]
    return [(speaker, text) for speaker, text in joined_turns if text]


def _line_speaker(raw_line: str, text: str) -> tuple[str | None, str]:
    voice = _VOICE_TAG.match(raw_line.lstrip())
    if voice is not None:
        return voice[1].strip(), text
    prefix = split_speaker_prefix(text)
    if prefix is not None:
        return prefix
    return None, text


def _validate_cues(text: str) -> None:
    blocks = _iter_blocks(split_lines(text))
    next(blocks, None)  # the header block, which starts with WEBVTT
    for first_line_number, block in blocks:
        if not _NON_CUE_BLOCK.match(block[0]):
            _validate_cue_block(first_line_number, block)


def _iter_blocks(lines: list[str]) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(first line number, lines)`` for each block of WebVTT lines.

    As in the WebVTT parsing rules, a block ends at an empty line or before a line
    containing "-->" that cannot be the timing line of the current block. A timing
    line can only be the first line of a cue or follow its identifier line.
    """
    block: list[str] = []
    first_line_number = 0
    in_header = True
    for line_number, line in enumerate(lines, start=1):
        starts_new_block = "-->" in line and (in_header or not _awaits_timing(block))
        if block and (not line or starts_new_block):
            yield first_line_number, block
            block = []
            in_header = False
        if line:
            if not block:
                first_line_number = line_number
            block.append(line)
    if block:
        yield first_line_number, block


def _awaits_timing(block: list[str]) -> bool:
    return len(block) == 1 and "-->" not in block[0]


def _validate_cue_block(first_line_number: int, block: list[str]) -> None:
    for offset, line in enumerate(block[:2]):
        if "-->" in line:
            _validate_timing_line(first_line_number + offset, line)
            return
    raise TranscriptFormatError(
        f"The WebVTT cue at line {first_line_number} has no timing line, so add "
        f"one such as {_EXAMPLE_TIMING} above its text."
    )


def _validate_timing_line(line_number: int, line: str) -> None:
    match = _CUE_TIMING.fullmatch(line.strip())
    start = None if match is None else clock_to_seconds(*match.groups()[:4])
    end = None if match is None else clock_to_seconds(*match.groups()[4:])
    if start is None or end is None:
        raise TranscriptFormatError(
            f'Line {line_number} of the WebVTT file has an invalid cue timing '
            f'"{excerpt(line)}", so write it as {_EXAMPLE_TIMING}.'
        )
    if end < start:
        raise TranscriptFormatError(
            f'The WebVTT cue timing on line {line_number} ends before it starts '
            f'("{excerpt(line)}"), so fix the start or end time.'
        )
