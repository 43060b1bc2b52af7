"""Word counts, talk shares, keywords and VADER sentiment for parsed transcripts."""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any, Final

from stop_words import get_stop_words
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from meetings.transcripts import Utterance

KEYWORD_LIMIT: Final = 10
_DECIMALS: Final = 4
# Timestamps in WebVTT and SRT have millisecond resolution.
_SECONDS_DECIMALS: Final = 3

# A non-speech marker such as {vocalsound} or {disfmarker} in QMSum transcripts.
_MARKER = re.compile(r"\{\w+\}")
_WHITESPACE = re.compile(r"\s+")
# Letters and digits are [^\W_]. Apostrophes join runs of them only inside a word.
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")

_MIN_KEYWORD_LENGTH: Final = 3
# Hesitations and backchannels that dominate spoken transcripts but name no topic.
# The English stop word list lacks some of them (it has "um", "oh" and "okay" but
# not "uh", "yeah" or "hmm"), so without this set they would fill the keyword list
# of most meetings. The set also has the spoken contractions "gonna", "gotta" and
# "wanna", whose expansions ("going to") are stop words. Fillers shorter than three
# letters, which the length rule already excludes, are listed too so the set stays
# complete if that rule changes.
# fmt: off
_SPOKEN_FILLERS: Final = frozenset(
    {
        "ah", "ahh", "aha", "er", "erm", "hm", "hmm", "hmmm", "huh", "kay",
        "mhm", "mm", "mmm", "oh", "ok", "okay", "ooh", "uh", "uhh", "uhm", "um",
        "umm", "yeah", "yep", "yup", "gonna", "gotta", "wanna",
    }
)
# fmt: on

_analyzer: SentimentIntensityAnalyzer | None = None
_analyzer_lock = threading.Lock()


@dataclass(frozen=True)
class SpeakerStats:
    """Totals for one speaker, with shares between 0 and 1 of the meeting totals.

    ``talk_seconds`` and ``talk_share_time`` are None when the transcript has no
    timestamps. ``sentiment`` is the VADER compound score from -1 to 1, averaged
    over the speaker's utterances weighted by their word counts.
    """

    speaker: str
    utterance_count: int
    word_count: int
    talk_share_words: float
    talk_seconds: float | None
    talk_share_time: float | None
    sentiment: float


@dataclass
class MeetingAnalysis:
    """Result of analyze_utterances, stored as JSON through as_dict and from_dict."""

    word_count: int
    utterance_count: int
    speakers: list[SpeakerStats] = field(default_factory=list)
    sentiment: dict[str, float] = field(default_factory=dict)
    keywords: list[tuple[str, int]] = field(default_factory=list)
    duration_seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-serializable dict, with keywords as {"word", "count"} items."""
        return {
            "word_count": self.word_count,
            "utterance_count": self.utterance_count,
            "speakers": [asdict(stats) for stats in self.speakers],
            "sentiment": dict(self.sentiment),
            "keywords": [
                {"word": word, "count": count} for word, count in self.keywords
            ],
            "duration_seconds": self.duration_seconds,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeetingAnalysis:
        """Build an analysis from the output of as_dict.

        Raises ValueError naming the missing keys when a top-level key is missing.
        """
        missing = [key for key in _ANALYSIS_KEYS if key not in data]
        if missing:
            raise ValueError(
                f"The analysis dict is missing {', '.join(missing)}, so it was not "
                "produced by MeetingAnalysis.as_dict()."
            )
        return cls(
            word_count=data["word_count"],
            utterance_count=data["utterance_count"],
            speakers=[SpeakerStats(**stats) for stats in data["speakers"]],
            sentiment=dict(data["sentiment"]),
            keywords=[(item["word"], item["count"]) for item in data["keywords"]],
            duration_seconds=data["duration_seconds"],
        )


_ANALYSIS_KEYS: Final = (
    "word_count",
    "utterance_count",
    "speakers",
    "sentiment",
    "keywords",
    "duration_seconds",
)


def clean_text(text: str) -> str:
    """Remove ``{word}`` non-speech markers and collapse whitespace.

    Markers such as ``{vocalsound}`` or ``{disfmarker}`` are replaced by a space,
    runs of whitespace become one space and the ends are stripped.
    """
    without_markers = _MARKER.sub(" ", text)
    return _WHITESPACE.sub(" ", without_markers).strip()


def tokenize(text: str) -> list[str]:
    """Split text into words after clean_text, keeping their case.

    A word is a run of Unicode letters and digits. An apostrophe (' or ’) between
    two such runs stays inside the word, so "don't" is one word, while a leading
    apostrophe as in "'ve" is dropped. Any other character separates words, so
    "user-friendly" and "3.5" are two words each and "L_C_D_" is three. Markers
    never count.

    NOTE: scripts written without spaces, such as Chinese, count each unbroken run
    of characters as one word.
    """
    return _WORD.findall(clean_text(text))


def count_words(text: str) -> int:
    """Return the number of words in text, as defined by tokenize."""
    return len(tokenize(text))


def analyze_utterances(utterances: Sequence[Utterance]) -> MeetingAnalysis:
    """Compute word counts, talk shares, keywords, sentiment and duration.

    Overall and per-speaker sentiment is the mean of per-utterance VADER scores
    weighted by word count, so utterances without words do not count. VADER on the
    whole text was not chosen because its compound score saturates near -1 or 1 on
    long texts. Scores are 0 when the transcript has no words.
    """
    tokens = [tokenize(utterance.text) for utterance in utterances]
    scores = [_polarity_scores(utterance.text) for utterance in utterances]
    word_counts = [len(words) for words in tokens]
    total_words = sum(word_counts)

    return MeetingAnalysis(
        word_count=total_words,
        utterance_count=len(utterances),
        speakers=_speaker_stats(utterances, word_counts, scores),
        sentiment={
            key: _weighted_mean((score[key] for score in scores), word_counts)
            for key in ("compound", "pos", "neu", "neg")
        },
        keywords=_top_keywords(word for words in tokens for word in words),
        duration_seconds=_duration_seconds(utterances),
    )


def _speaker_stats(
    utterances: Sequence[Utterance],
    word_counts: list[int],
    scores: list[dict[str, float]],
) -> list[SpeakerStats]:
    indexes_by_speaker: dict[str, list[int]] = defaultdict(list)
    for index, utterance in enumerate(utterances):
        indexes_by_speaker[utterance.speaker].append(index)

    total_words = sum(word_counts)
    seconds_by_speaker = {
        speaker: _talk_seconds(utterances[index] for index in indexes)
        for speaker, indexes in indexes_by_speaker.items()
    }
    total_seconds = _total_seconds(seconds_by_speaker.values())

    speakers = []
    for speaker, indexes in indexes_by_speaker.items():
        words = sum(word_counts[index] for index in indexes)
        seconds = seconds_by_speaker[speaker]
        compound = _weighted_mean(
            (scores[index]["compound"] for index in indexes),
            [word_counts[index] for index in indexes],
        )
        speakers.append(
            SpeakerStats(
                speaker=speaker,
                utterance_count=len(indexes),
                word_count=words,
                talk_share_words=_share(words, total_words),
                talk_seconds=_round_seconds(seconds),
                talk_share_time=_time_share(seconds, total_seconds),
                sentiment=compound,
            )
        )
    speakers.sort(key=lambda stats: (-stats.word_count, stats.speaker))
    return speakers


def _talk_seconds(utterances: Iterable[Utterance]) -> float | None:
    """Return the summed cue durations, or None when no utterance has both times."""
    durations = [
        utterance.end - utterance.start
        for utterance in utterances
        if utterance.start is not None and utterance.end is not None
    ]
    return sum(durations) if durations else None


def _total_seconds(speaker_seconds: Iterable[float | None]) -> float | None:
    timed = [seconds for seconds in speaker_seconds if seconds is not None]
    return sum(timed) if timed else None


def _time_share(seconds: float | None, total_seconds: float | None) -> float | None:
    """Return the share of talk time, or None without timestamps.

    A speaker without timed utterances in a timed transcript gets 0. The share is
    None when all timed utterances last zero seconds, because it is undefined.
    """
    if not total_seconds:
        return None
    return _share(seconds or 0.0, total_seconds)


def _share(part: float, total: float) -> float:
    return round(part / total, _DECIMALS) if total else 0.0


def _round_seconds(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, _SECONDS_DECIMALS)


def _duration_seconds(utterances: Sequence[Utterance]) -> float | None:
    """Return the latest end minus the earliest start, or None without both."""
    starts = [u.start for u in utterances if u.start is not None]
    ends = [u.end for u in utterances if u.end is not None]
    if not starts or not ends:
        return None
    return round(max(ends) - min(starts), _SECONDS_DECIMALS)


def _weighted_mean(values: Iterable[float], weights: Sequence[int]) -> float:
    total_weight = sum(weights)
    if not total_weight:
        return 0.0
    weighted_sum = sum(value * weight for value, weight in zip(values, weights))
    return round(weighted_sum / total_weight, _DECIMALS)


def _top_keywords(words: Iterable[str]) -> list[tuple[str, int]]:
    """Return the most frequent keywords, lowercased, with ties in alphabetical order.

    Stop words from the English list of the stop_words package, spoken fillers,
    words shorter than three characters and numbers are not keywords.
    """
    excluded = _excluded_keywords()
    counts = Counter(
        keyword
        for keyword in (word.lower().replace("’", "'") for word in words)
        if len(keyword) >= _MIN_KEYWORD_LENGTH
        and not keyword.isdigit()
        and keyword not in excluded
    )
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:KEYWORD_LIMIT]


@cache
def _excluded_keywords() -> frozenset[str]:
    return frozenset(get_stop_words("english")) | _SPOKEN_FILLERS


def _polarity_scores(text: str) -> dict[str, float]:
    """Return VADER scores for the text with non-speech markers removed."""
    return _get_analyzer().polarity_scores(clean_text(text))


def _get_analyzer() -> SentimentIntensityAnalyzer:
    """Return the process-wide VADER analyzer, created on first use.

    The lock makes concurrent first calls create one analyzer. Scoring only reads
    the analyzer's lexicon, so threads can share it.
    """
    global _analyzer
    if _analyzer is None:
        with _analyzer_lock:
            if _analyzer is None:
                _analyzer = SentimentIntensityAnalyzer()
    return _analyzer
