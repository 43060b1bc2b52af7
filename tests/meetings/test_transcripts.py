"""Tests for transcript format detection and parsing, without Django."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from meetings.transcripts import (
    ACCEPTED_FORMATS,
    ParsedTranscript,
    TranscriptFormatError,
    Utterance,
    parse_transcript,
)
from meetings.transcripts.detect import detect_format

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
QMSUM_DIR = REPOSITORY_ROOT / "meetings" / "sample_data" / "qmsum"
QMSUM_FILES = sorted(QMSUM_DIR.glob("*.json"))


def format_error_message(content: bytes | str) -> str:
    """Return the TranscriptFormatError message, checking it is one sentence."""
    with pytest.raises(TranscriptFormatError) as caught:
        parse_transcript(content)
    message = str(caught.value)
    assert "\n" not in message
    assert message.endswith(".")
    return message


# QMSum


def test_qmsum_inline_sample() -> None:
    content = json.dumps(
        {
            "topic_list": [],
            "meeting_transcripts": [
                {"speaker": "Project Manager", "content": "Let's start ."},
                {"speaker": "Marketing", "content": "{vocalsound}"},
                {"speaker": "Project Manager", "content": "OK {disfmarker} good ."},
            ],
        }
    )

    parsed = parse_transcript(content)

    assert isinstance(parsed, ParsedTranscript)
    assert parsed.format == "qmsum"
    assert parsed.utterances == [
        Utterance("Project Manager", "Let's start ."),
        Utterance("Marketing", "{vocalsound}"),
        Utterance("Project Manager", "OK {disfmarker} good ."),
    ]


def test_qmsum_blank_speaker_is_unknown() -> None:
    content = '{"meeting_transcripts": [{"speaker": " ", "content": "Hi ."}]}'

    parsed = parse_transcript(content)

    assert parsed.utterances == [Utterance("Unknown", "Hi .")]


@pytest.mark.parametrize("path", QMSUM_FILES, ids=lambda path: path.name)
def test_qmsum_shipped_file(path: Path) -> None:
    entries = json.loads(path.read_text(encoding="utf-8"))["meeting_transcripts"]

    parsed = parse_transcript(path.read_bytes())

    assert parsed.format == "qmsum"
    assert len(parsed.utterances) == len(entries)
    assert {u.speaker for u in parsed.utterances} == {e["speaker"] for e in entries}
    assert [u.speaker for u in parsed.utterances] == [e["speaker"] for e in entries]
    assert [u.text for u in parsed.utterances] == [e["content"] for e in entries]
    assert all(u.start is None and u.end is None for u in parsed.utterances)


def test_qmsum_shipped_files_present() -> None:
    assert len(QMSUM_FILES) >= 3


# WebVTT

WEBVTT_VOICES = """WEBVTT - weekly sync
Kind: captions

STYLE
::cue(v[voice="Alice"]) { color: red }

NOTE recorded by the meeting bot

intro
00:00:01.000 --> 00:00:04.500
<v Alice>Welcome to the <b>weekly</b> sync &amp; review.
Let's begin.

00:04.500 --> 00:07.250 align:start
<v.loud Bob Smith>Thanks, Alice.</v>

01:02:03.450 --> 01:02:05.000
<v Alice>First item
<v Bob Smith>Go ahead.
"""


def test_webvtt_voice_tags() -> None:
    parsed = parse_transcript(WEBVTT_VOICES)

    assert parsed.format == "webvtt"
    assert parsed.utterances == [
        Utterance(
            "Alice", "Welcome to the weekly sync & review. Let's begin.", 1.0, 4.5
        ),
        Utterance("Bob Smith", "Thanks, Alice.", 4.5, 7.25),
        Utterance("Alice", "First item", 3723.45, 3725.0),
        Utterance("Bob Smith", "Go ahead.", 3723.45, 3725.0),
    ]


def test_webvtt_speaker_prefixes() -> None:
    content = (
        "WEBVTT\n\n"
        "1\n00:00:00.000 --> 00:00:02.000\nAlice: Good morning.\n\n"
        "2\n00:00:02.000 --> 00:00:05.500\nBob: Morning!\nHow was the trip?\n\n"
        "3\n00:00:05.500 --> 00:00:06.000\nno speaker here\n"
    )

    parsed = parse_transcript(content)

    assert parsed.format == "webvtt"
    assert parsed.utterances == [
        Utterance("Alice", "Good morning.", 0.0, 2.0),
        Utterance("Bob", "Morning! How was the trip?", 2.0, 5.5),
        Utterance("Unknown", "no speaker here", 5.5, 6.0),
    ]


def test_webvtt_bom_and_crlf() -> None:
    content = (
        "\ufeffWEBVTT\r\n\r\n00:00:01.000 --> 00:00:02.000\r\n<v Ana>Hola.\r\n"
    ).encode()

    parsed = parse_transcript(content)

    assert parsed.format == "webvtt"
    assert parsed.utterances == [Utterance("Ana", "Hola.", 1.0, 2.0)]


def test_webvtt_skips_empty_cue() -> None:
    content = (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Ana></v>\n\n"
        "00:00:02.000 --> 00:00:03.000\n<v Ana>Hi.\n"
    )

    parsed = parse_transcript(content)

    assert parsed.utterances == [Utterance("Ana", "Hi.", 2.0, 3.0)]


def test_webvtt_without_cues_rejected() -> None:
    message = format_error_message("WEBVTT\n\nNOTE nothing was said\n")

    assert "no cues" in message


@pytest.mark.parametrize(
    ("content", "line_number"),
    [
        ("WEBVTT\n\n00:00:01.000 --> 00:00:0x.000\nHi.\n", 3),
        ("WEBVTT\n\n1\n00:00:01,000 --> 00:00:02,000\nHi.\n", 4),
        (
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHi.\n\n"
            "00:01:61.000 --> 00:01:62.000\nX\n",
            6,
        ),
        (
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHi.\n"
            "00:00:03.000 --> 00:00:04\nX\n",
            5,
        ),
        ("WEBVTT\n\n00:00:05.000 --> 00:00:02.000\nHi.\n", 3),
        ("WEBVTT\n\n1\n00:00:01.000 -> 00:00:02.000\nHi.\n", 3),
        ("WEBVTT\n\n00:00:01 --> 00:00:02\nHi.\n", 3),
    ],
    ids=[
        "letter",
        "comma",
        "seconds-over-59",
        "cue-without-blank-line",
        "end-before-start",
        "no-arrow",
        "no-milliseconds",
    ],
)
def test_webvtt_broken_timestamps(content: str, line_number: int) -> None:
    message = format_error_message(content)

    assert "WebVTT" in message
    assert re.search(rf"\bline {line_number}\b", message, re.IGNORECASE)


# SRT

SRT_SAMPLE = """1
00:00:01,000 --> 00:00:02,500
Alice: Hi <i>everyone</i>.

2
00:00:03,000 --> 00:00:04,000
Bob: Hello.
Glad to be here.

3
01:00:00.250 --> 01:00:01,000 X1:40 X2:600 Y1:20 Y2:50
Nobody named.
"""


def test_srt_prefixes_and_timestamps() -> None:
    parsed = parse_transcript(SRT_SAMPLE)

    assert parsed.format == "srt"
    assert parsed.utterances == [
        Utterance("Alice", "Hi everyone.", 1.0, 2.5),
        Utterance("Bob", "Hello. Glad to be here.", 3.0, 4.0),
        Utterance("Unknown", "Nobody named.", 3600.25, 3601.0),
    ]


SRT_FIRST_CUE = "1\n00:00:01,000 --> 00:00:02,000\nHi.\n\n"


@pytest.mark.parametrize(
    ("content", "line_number"),
    [
        (SRT_FIRST_CUE + "2\n00:00:03,000 00:00:04,000\nX\n", 6),
        (SRT_FIRST_CUE + "2\n00:00:03,000 --> 00:00:0a,000\nX\n", 6),
        (SRT_FIRST_CUE + "00:00:03,000 --> 00:00:04,000\nX\n", 5),
        ("1\n00:00:09,000 --> 00:00:02,000\nHi.\n", 2),
        ("1\n00:00:01,000 --> 00:00:60,000\nHi.\n", 2),
    ],
    ids=["no-arrow", "letter", "no-cue-number", "end-before-start", "seconds-over-59"],
)
def test_srt_broken_timestamps(content: str, line_number: int) -> None:
    message = format_error_message(content)

    assert "SRT" in message
    assert re.search(rf"\bline {line_number}\b", message, re.IGNORECASE)


# Plain text


def test_plain_lines() -> None:
    content = (
        "Weekly sync notes\n"
        "Alice: Let's meet at 10:30 tomorrow.\n"
        "\n"
        "   and bring the report\n"
        "Dr. Bob Smith: Sounds good.\n"
        "Speaker 2:\n"
        "I agree.\n"
    )

    parsed = parse_transcript(content)

    assert parsed.format == "plain"
    assert parsed.utterances == [
        Utterance("Unknown", "Weekly sync notes"),
        Utterance("Alice", "Let's meet at 10:30 tomorrow. and bring the report"),
        Utterance("Dr. Bob Smith", "Sounds good."),
        Utterance("Speaker 2", "I agree."),
    ]


def test_plain_time_is_not_speaker() -> None:
    parsed = parse_transcript("Alice: start\n10:30 works for me\n")

    assert parsed.utterances == [Utterance("Alice", "start 10:30 works for me")]


def test_plain_without_prefix_rejected() -> None:
    message = format_error_message("We met today.\nEveryone agreed.\n")

    assert "not recognized" in message


# Detection


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"meeting_transcripts": [{"speaker": "A", "content": "x"}]}', "qmsum"),
        ('  \n{"meeting_transcripts": []}', "qmsum"),
        ('[{"speaker": "A", "content": "x"}]', "qmsum"),
        ("WEBVTT\n\n00:01.000 --> 00:02.000\nHi\n", "webvtt"),
        ("WEBVTT - title\n", "webvtt"),
        ("\n\n1\n00:00:01,000 --> 00:00:02,000\nHi\n", "srt"),
        ("Alice: hi\nBob: hello\n", "plain"),
        ("[00:01] notes\nAlice: hi\n", "plain"),
    ],
    ids=[
        "qmsum",
        "qmsum-leading-blank",
        "json-array",
        "webvtt",
        "webvtt-header-text",
        "srt-leading-blank",
        "plain",
        "plain-bracket-start",
    ],
)
def test_detect_format(content: str, expected: str) -> None:
    assert detect_format(content) == expected


def test_detect_ignores_lookalike_header() -> None:
    # "WEBVTTX" is not the WebVTT signature, so the prefix makes it plain text.
    assert detect_format("WEBVTTX: not a caption file\n") == "plain"


def test_accepted_formats_ids() -> None:
    assert set(ACCEPTED_FORMATS) == {"qmsum", "webvtt", "srt", "plain"}


def test_unknown_format_lists_accepted() -> None:
    message = format_error_message("just some words\nwith no structure at all\n")

    for description in ACCEPTED_FORMATS.values():
        assert description in message


# Input errors


@pytest.mark.parametrize("content", [b"", ""], ids=["bytes", "str"])
def test_empty_input_rejected(content: bytes | str) -> None:
    message = format_error_message(content)

    assert "empty" in message


@pytest.mark.parametrize("content", [b"  \n\t\r\n", "\ufeff \n "], ids=["bytes", "str"])
def test_whitespace_only_rejected(content: bytes | str) -> None:
    message = format_error_message(content)

    assert "whitespace" in message


def test_binary_garbage_rejected() -> None:
    message = format_error_message(bytes(range(256)))

    assert "binary" in message


def test_nul_in_text_rejected() -> None:
    message = format_error_message("Alice: hi\x00there\n")

    assert "binary" in message


def test_invalid_utf8_rejected() -> None:
    message = format_error_message("Alice: café\n".encode("latin-1"))

    assert "UTF-8" in message
    assert "0xe9" in message


def test_format_error_is_value_error() -> None:
    assert issubclass(TranscriptFormatError, ValueError)


@pytest.mark.parametrize(
    ("content", "expected_fragment"),
    [
        ('[{"speaker": "A", "content": "x"}]', "top level is an array"),
        ('{"topic_list": []}', 'missing the "meeting_transcripts"'),
        ('{"meeting_transcripts": "A: hi"}', "meeting_transcripts must be a list"),
        ('{"meeting_transcripts": []}', "meeting_transcripts is empty"),
        ('{"meeting_transcripts": ["A: hi"]}', "meeting_transcripts[0] must be an"),
        (
            '{"meeting_transcripts": [{"speaker": "A", "content": "x"}, '
            '{"speaker": "B", "content": "y"}, {"speaker": "C", "content": "z"}, '
            '{"content": "no speaker"}]}',
            "meeting_transcripts[3].speaker is missing",
        ),
        (
            '{"meeting_transcripts": [{"speaker": "A"}]}',
            "meeting_transcripts[0].content is missing",
        ),
        (
            '{"meeting_transcripts": [{"speaker": "A", "content": 42}]}',
            "meeting_transcripts[0].content must be a string, but it is a number",
        ),
        (
            '{"meeting_transcripts": [{"speaker": null, "content": "x"}]}',
            "meeting_transcripts[0].speaker must be a string, but it is null",
        ),
        ('{"meeting_transcripts": [', "invalid at line 1 column"),
    ],
    ids=[
        "not-object",
        "missing-key",
        "not-list",
        "empty-list",
        "entry-not-object",
        "entry-missing-speaker",
        "entry-missing-content",
        "content-not-string",
        "speaker-null",
        "invalid-json",
    ],
)
def test_qmsum_wrong_shape(content: str, expected_fragment: str) -> None:
    message = format_error_message(content)

    assert expected_fragment in message


# Text fidelity


def test_non_ascii_plain_intact() -> None:
    content = "张伟: 我们开始吧。\nJosé Núñez: Ça va très bien, merci — ¡olé!\n"

    parsed = parse_transcript(content.encode("utf-8"))

    assert parsed.utterances == [
        Utterance("张伟", "我们开始吧。"),
        Utterance("José Núñez", "Ça va très bien, merci — ¡olé!"),
    ]


def test_non_ascii_webvtt_intact() -> None:
    content = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Zoë>Añadir café 你好\n"

    parsed = parse_transcript(content.encode("utf-8"))

    assert parsed.utterances == [Utterance("Zoë", "Añadir café 你好", 1.0, 2.0)]


def test_non_ascii_qmsum_intact() -> None:
    content = json.dumps(
        {"meeting_transcripts": [{"speaker": "Søren", "content": "Größe 你好 ."}]},
        ensure_ascii=False,
    )

    parsed = parse_transcript(content.encode("utf-8"))

    assert parsed.utterances == [Utterance("Søren", "Größe 你好 .")]


def test_bytes_and_str_agree() -> None:
    content = "\ufeffAlice: héllo\nBob: hi\n"

    assert parse_transcript(content) == parse_transcript(content.encode("utf-8"))


def test_utterance_is_frozen() -> None:
    utterance = Utterance("Alice", "hi")

    with pytest.raises(dataclasses.FrozenInstanceError):
        utterance.text = "changed"  # type: ignore[misc]
