"""Plain-text summaries of meetings for the terminal."""

from __future__ import annotations

from meetings.models import Meeting, MeetingStatus


def format_meeting(meeting: Meeting) -> str:
    """Return the speakers, talk share, sentiment and keywords as text lines."""
    header = f"Meeting {meeting.pk}: {meeting.title} [{meeting.status}]"
    if meeting.status == MeetingStatus.FAILED:
        return f"{header}\n  failed: {meeting.failure_reason}"
    analysis = getattr(meeting, "analysis", None)
    if analysis is None:
        return f"{header}\n  not analysed yet"

    data = analysis.data
    lines = [
        header,
        f"  format: {meeting.transcript_format}, utterances: {data['utterance_count']}, "
        f"words: {data['word_count']}",
        f"  overall sentiment (VADER compound, -1..1): {data['sentiment']['compound']:+.4f}",
        "  speakers (share of words, share of time, sentiment):",
    ]
    for speaker in data["speakers"]:
        time_share = speaker.get("talk_share_time")
        time_text = f"{time_share:6.1%}" if time_share is not None else "   n/a"
        lines.append(
            f"    {speaker['speaker']:<24} {speaker['talk_share_words']:6.1%} {time_text}"
            f"  {speaker['sentiment']:+.4f}  ({speaker['word_count']} words)"
        )
    keywords = ", ".join(f"{item['word']} ({item['count']})" for item in data["keywords"])
    lines.append(f"  top keywords: {keywords}")
    return "\n".join(lines)
