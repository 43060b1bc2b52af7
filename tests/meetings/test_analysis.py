"""Tests for transcript analysis: words, talk shares, keywords and sentiment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from meetings import analysis
from meetings.analysis import (
    MeetingAnalysis,
    SpeakerStats,
    analyze_utterances,
    clean_text,
    count_words,
    tokenize,
)
from meetings.transcripts import Utterance, parse_transcript

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
QMSUM_DIR = REPOSITORY_ROOT / "meetings" / "sample_data" / "qmsum"
QMSUM_FILES = sorted(QMSUM_DIR.glob("*.json"))

TIMED_MEETING = [
    # Alice: 3 words, 0 to 4 s. Bob: 2 words, 4 to 5 s. Alice: 1 word, 5 to 7 s.
    Utterance("Alice", "Hello there, everyone {vocalsound}", 0.0, 4.0),
    Utterance("Bob", "Yes {gap} indeed.", 4.0, 5.0),
    Utterance("Alice", "{disfmarker} Great!", 5.0, 7.0),
]


def stats_by_speaker(result: MeetingAnalysis) -> dict[str, SpeakerStats]:
    return {stats.speaker: stats for stats in result.speakers}


# Text cleaning and words


def test_clean_text_removes_markers() -> None:
    text = "{vocalsound} So  {disfmarker} we\n start {gap}{pause} now . {comment}"

    assert clean_text(text) == "So we start now ."


def test_clean_text_keeps_other_braces() -> None:
    assert clean_text("set {a b} here") == "set {a b} here"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("{vocalsound} {disfmarker}", 0),
        ("Hello, world!", 2),
        ("I don't know .", 3),
        ("it’s fine", 2),
        ("I 've got it", 4),
        ("user-friendly design", 3),
        ("L_C_D_ screen", 4),
        ("3.5 apples", 3),
        ("café olé", 2),
        ("a{gap}b", 2),
    ],
)
def test_count_words_cases(text: str, expected: int) -> None:
    assert count_words(text) == expected


def test_tokenize_keeps_inner_apostrophe() -> None:
    tokens = tokenize("Don't 'cause we're {gap} done")

    assert tokens == ["Don't", "cause", "we're", "done"]


# Counts, shares and duration


def test_analyze_word_count() -> None:
    result = analyze_utterances(TIMED_MEETING)

    assert result.word_count == 6
    assert result.utterance_count == 3


def test_analyze_speaker_word_shares() -> None:
    speakers = stats_by_speaker(analyze_utterances(TIMED_MEETING))

    assert speakers["Alice"].word_count == 4
    assert speakers["Alice"].utterance_count == 2
    assert speakers["Alice"].talk_share_words == round(4 / 6, 4)
    assert speakers["Bob"].word_count == 2
    assert speakers["Bob"].utterance_count == 1
    assert speakers["Bob"].talk_share_words == round(2 / 6, 4)


def test_analyze_speaker_time_shares() -> None:
    speakers = stats_by_speaker(analyze_utterances(TIMED_MEETING))

    assert speakers["Alice"].talk_seconds == 6.0
    assert speakers["Alice"].talk_share_time == round(6 / 7, 4)
    assert speakers["Bob"].talk_seconds == 1.0
    assert speakers["Bob"].talk_share_time == round(1 / 7, 4)


def test_analyze_duration() -> None:
    utterances = [
        Utterance("A", "late start", 12.5, 14.0),
        Utterance("B", "earlier", 10.25, 11.0),
    ]

    assert analyze_utterances(utterances).duration_seconds == 3.75


def test_analyze_speaker_order() -> None:
    utterances = [
        Utterance("Carol", "one"),
        Utterance("Bob", "one two three"),
        Utterance("Alice", "one"),
    ]

    result = analyze_utterances(utterances)

    assert [stats.speaker for stats in result.speakers] == ["Bob", "Alice", "Carol"]


def test_analyze_without_timestamps() -> None:
    result = analyze_utterances([Utterance("A", "hello"), Utterance("B", "hi there")])

    assert result.duration_seconds is None
    for stats in result.speakers:
        assert stats.talk_seconds is None
        assert stats.talk_share_time is None


def test_analyze_zero_length_cues() -> None:
    result = analyze_utterances([Utterance("A", "hello", 3.0, 3.0)])

    assert result.speakers[0].talk_seconds == 0.0
    assert result.speakers[0].talk_share_time is None
    assert result.duration_seconds == 0.0


def test_analyze_marker_only_utterance() -> None:
    utterances = [Utterance("A", "{vocalsound}"), Utterance("B", "real words here")]

    result = analyze_utterances(utterances)

    speakers = stats_by_speaker(result)
    assert result.word_count == 3
    assert result.utterance_count == 2
    assert speakers["A"].word_count == 0
    assert speakers["A"].utterance_count == 1
    assert speakers["A"].talk_share_words == 0.0
    assert speakers["B"].talk_share_words == 1.0


def test_analyze_empty_transcript() -> None:
    result = analyze_utterances([])

    assert result.word_count == 0
    assert result.speakers == []
    assert result.keywords == []
    assert result.sentiment == {"compound": 0.0, "pos": 0.0, "neu": 0.0, "neg": 0.0}
    assert result.duration_seconds is None


# Keywords


def test_keywords_exclude_stop_words() -> None:
    text = (
        "The budget and the roadmap, um, the Budget. Yeah the roadmap uh okay "
        "budget 2024 2024 2024 AI AI AI zebra apple {vocalsound} {vocalsound}"
    )

    result = analyze_utterances([Utterance("A", text)])

    expected = [("budget", 3), ("roadmap", 2), ("apple", 1), ("zebra", 1)]
    assert result.keywords == expected


def test_keywords_top_ten_ties_alphabetical() -> None:
    words = ["kiwi", "lemon", "mango", "apple", "grape", "melon", "peach", "cherry"]
    words += ["banana", "papaya", "quince", "guava"]
    text = " ".join(words) + " quince"

    result = analyze_utterances([Utterance("A", text)])

    expected_rest = sorted(word for word in words if word != "quince")[:9]
    assert result.keywords == [("quince", 2)] + [(word, 1) for word in expected_rest]


def test_keywords_merge_apostrophe_forms() -> None:
    result = analyze_utterances([Utterance("A", "Ann’s report, Ann's report")])

    assert ("ann's", 2) in result.keywords


# Sentiment


def test_sentiment_positive_text() -> None:
    text = "I love this plan, it is wonderful and the team did a great job!"

    result = analyze_utterances([Utterance("A", text)])

    assert result.sentiment["compound"] > 0.5
    assert result.speakers[0].sentiment > 0.5


def test_sentiment_negative_text() -> None:
    text = "This is terrible, the launch was an awful failure and I hate it."

    result = analyze_utterances([Utterance("A", text)])

    assert result.sentiment["compound"] < -0.5
    assert result.speakers[0].sentiment < -0.5


def test_sentiment_word_weighted_mean() -> None:
    positive = "What a wonderful, excellent result"
    negative = "Bad"
    vader = SentimentIntensityAnalyzer()
    positive_score = vader.polarity_scores(positive)
    negative_score = vader.polarity_scores(negative)

    result = analyze_utterances([Utterance("A", positive), Utterance("B", negative)])

    for key in ("compound", "pos", "neu", "neg"):
        # 5 words in the positive utterance, 1 in the negative one.
        expected = (positive_score[key] * 5 + negative_score[key] * 1) / 6
        assert result.sentiment[key] == round(expected, 4)


def test_sentiment_deterministic() -> None:
    first = analyze_utterances(TIMED_MEETING)
    second = analyze_utterances(TIMED_MEETING)

    assert first.sentiment == second.sentiment
    assert first.speakers == second.speakers


def test_sentiment_ranges() -> None:
    result = analyze_utterances(TIMED_MEETING)

    assert set(result.sentiment) == {"compound", "pos", "neu", "neg"}
    assert -1.0 <= result.sentiment["compound"] <= 1.0
    for key in ("pos", "neu", "neg"):
        assert 0.0 <= result.sentiment[key] <= 1.0


def test_analyzer_created_once() -> None:
    assert analysis._get_analyzer() is analysis._get_analyzer()


# Serialization


def test_as_dict_is_json() -> None:
    result = analyze_utterances(TIMED_MEETING)

    data = json.loads(json.dumps(result.as_dict()))

    assert data["word_count"] == 6
    assert data["speakers"][0]["speaker"] == "Alice"
    assert data["speakers"][0]["talk_seconds"] == 6.0
    assert data["duration_seconds"] == 7.0


def test_as_dict_keyword_items() -> None:
    result = analyze_utterances([Utterance("A", "budget budget roadmap")])

    assert result.as_dict()["keywords"] == [
        {"word": "budget", "count": 2},
        {"word": "roadmap", "count": 1},
    ]


def test_from_dict_round_trip() -> None:
    result = analyze_utterances(TIMED_MEETING)

    restored = MeetingAnalysis.from_dict(json.loads(json.dumps(result.as_dict())))

    assert restored == result


def test_from_dict_missing_key() -> None:
    data = analyze_utterances(TIMED_MEETING).as_dict()
    del data["speakers"]

    with pytest.raises(ValueError, match="speakers"):
        MeetingAnalysis.from_dict(data)


# Shipped QMSum files


@pytest.mark.parametrize("path", QMSUM_FILES, ids=lambda path: path.name)
def test_qmsum_word_count_matches(path: Path) -> None:
    entries = json.loads(path.read_text(encoding="utf-8"))["meeting_transcripts"]
    expected_total = 0
    for entry in entries:
        speech = re.sub(r"\{[^}]*\}", " ", entry["content"]).replace("_", " ")
        expected_total += len(re.findall(r"\w+(?:'\w+)*", speech))

    result = analyze_utterances(parse_transcript(path.read_bytes()).utterances)

    assert expected_total > 1000
    assert result.word_count == expected_total
    assert result.utterance_count == len(entries)
    assert sum(stats.word_count for stats in result.speakers) == expected_total
    assert sum(stats.talk_share_words for stats in result.speakers) == pytest.approx(
        1.0, abs=1e-3
    )
    assert len(result.keywords) == 10
