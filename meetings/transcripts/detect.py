"""Detection of the transcript format from the content."""

from __future__ import annotations

import json
import re

from .core import (
    TranscriptFormatError,
    describe_accepted_formats,
    split_lines,
    split_speaker_prefix,
)

# The WebVTT signature: "WEBVTT" alone or followed by a space or tab.
_WEBVTT_SIGNATURE = re.compile(r"WEBVTT(?=[ \t\r\n]|\Z)")
# The line after an SRT cue number, which starts with a timestamp such as 00:00:01.
_SRT_TIMING_START = re.compile(r"\s*\d+:\d")


def detect_format(text: str) -> str:
    """Return the format id of a decoded, non-empty transcript.

    The first non-blank line decides WebVTT ("WEBVTT"), QMSum JSON (a JSON object)
    and SRT (a cue number followed by a timing line). Otherwise the text is plain
    when at least one line has a ``Speaker: text`` prefix. Raises
    TranscriptFormatError listing the accepted formats when none matches.
    """
    stripped = text.lstrip()
    if _WEBVTT_SIGNATURE.match(stripped):
        return "webvtt"
    if stripped.startswith("{") or (stripped.startswith("[") and _is_json(stripped)):
        return "qmsum"
    lines = split_lines(stripped)
    if _is_srt(lines):
        return "srt"
    if any(split_speaker_prefix(line) for line in lines):
        return "plain"
    raise TranscriptFormatError(
        "The transcript format is not recognized, so convert it to "
        f"{describe_accepted_formats()}."
    )


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _is_srt(lines: list[str]) -> bool:
    return (
        len(lines) >= 2
        and lines[0].strip().isdigit()
        and ("-->" in lines[1] or _SRT_TIMING_START.match(lines[1]) is not None)
    )
