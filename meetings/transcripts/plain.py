"""Plain text transcripts made of ``Speaker: text`` lines."""

from __future__ import annotations

from .core import (
    UNKNOWN_SPEAKER,
    TranscriptFormatError,
    Utterance,
    split_lines,
    split_speaker_prefix,
)


def parse(text: str) -> list[Utterance]:
    """Parse ``Speaker: text`` lines into utterances without timestamps.

    Blank lines are ignored. A line without a speaker prefix continues the previous
    utterance, joined with a space, and lines before the first prefix belong to
    speaker "Unknown". Raises TranscriptFormatError when no line has a speaker
    prefix, because such text is not a plain transcript.
    """
    turns: list[tuple[str, list[str]]] = []
    has_prefix = False
    for line in split_lines(text):
        if not line.strip():
            continue
        prefix = split_speaker_prefix(line)
        if prefix is not None:
            has_prefix = True
            turns.append((prefix[0], [prefix[1]]))
        elif turns:
            turns[-1][1].append(line.strip())
        else:
            turns.append((UNKNOWN_SPEAKER, [line.strip()]))

    if not has_prefix:
        raise TranscriptFormatError(
            'No line starts with a "Speaker: text" prefix, so the text is not a '
            "plain transcript."
        )
    return [
        Utterance(speaker, " ".join(filter(None, parts))) for speaker, parts in turns
    ]
