"""The meeting workflow end to end, through a real worker on the Redis broker."""

from __future__ import annotations

import email
import email.policy
import json
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile

from meetings.analysis import analyze_utterances
from meetings.models import Analysis, Meeting, MeetingStatus
from meetings.services import add_process_job, submit_transcript
from meetings.tasks import analyze_meeting
from meetings.transcripts import parse_transcript
from queueadmin.models import JobRecord, JobStatus
from queueadmin.records import flush_job_events
from tests.helpers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

QMSUM_DIR = Path(__file__).resolve().parents[2] / "meetings" / "sample_data" / "qmsum"
QMSUM_FILES = sorted(QMSUM_DIR.glob("*.json"))
ATTENDEES = ["ana@example.com", "bo@example.org"]
WORKFLOW_ACTORS = ("process_meeting", "analyze_meeting", "notify_meeting_attendees")
FINAL_STATUSES = (MeetingStatus.NOTIFIED, MeetingStatus.FAILED)
WAIT_SECONDS = 180

GOOD_PLAIN = b"Alice: We ship the release on Friday.\nBob: Great, I will write the notes.\n"

WEBVTT = """WEBVTT

1
00:00:00.000 --> 00:00:04.000
<v Alice>Good morning, everyone.

2
00:00:04.000 --> 00:00:06.500
Bob: Morning! The build is green.
Alice: Excellent news.

00:00:06.500 --> 00:00:10.000
<v Carol>I am worried about the deadline.
"""

SRT = """1
00:00:01,000 --> 00:00:03,000
Alice: Welcome to the review.

2
00:00:03,000 --> 00:00:07,250
Bob: Thanks. The numbers look good.
"""

PLAIN = """Alice: Let's start with the budget.
Bob: The budget is fine.
It has some room left.
Carol: Good, then we move on.
"""

# (format, content, utterance count, speakers, duration in seconds or None)
FORMAT_CASES = [
    ("webvtt", WEBVTT, 4, {"Alice", "Bob", "Carol"}, 10.0),
    ("srt", SRT, 2, {"Alice", "Bob"}, 6.25),
    ("plain", PLAIN, 3, {"Alice", "Bob", "Carol"}, None),
]

# (case id, content, text the failure reason contains)
MALFORMED_CASES = [
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01", "binary"),
    ("not_utf8", b"Alice: caf\xe9 ol\xe9\n", "not UTF-8"),
    (
        "webvtt_timing",
        b"WEBVTT\n\n00:00:01.000 --> 00:00:99.000\nAlice: hello\n",
        "invalid cue timing",
    ),
    (
        "webvtt_reversed",
        b"WEBVTT\n\n00:00:05.000 --> 00:00:01.000\nAlice: hello\n",
        "ends before it starts",
    ),
    ("json_list", b'[{"speaker": "A", "content": "hi"}]', "top level is an array"),
    ("json_turns_text", b'{"meeting_transcripts": "hello"}', "must be a list"),
    ("json_no_content", b'{"meeting_transcripts": [{"speaker": "A"}]}', "content is missing"),
    ("json_syntax", b'{"meeting_transcripts": [', "invalid at line 1"),
    ("unknown_format", b"just some words without speakers\n", "QMSum JSON, WebVTT, SRT"),
]


def unique_title(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def wait_for_meeting(meeting_id: int) -> Meeting:
    def finished() -> Meeting | None:
        meeting = Meeting.objects.get(pk=meeting_id)
        return meeting if meeting.status in FINAL_STATUSES else None

    return wait_until(finished, timeout=WAIT_SECONDS, interval=0.2)


def wait_for_jobs(correlation_id: str, count: int) -> list[JobRecord]:
    """Wait until ``count`` jobs of the correlation id have finished, and return all of them."""

    def finished() -> list[JobRecord] | None:
        records = list(JobRecord.objects.filter(correlation_id=correlation_id))
        done = [r for r in records if r.status in (JobStatus.SUCCEEDED, JobStatus.DEAD)]
        return records if len(done) >= count else None

    return wait_until(finished, timeout=WAIT_SECONDS, interval=0.2)


def finished_job(job_id: str) -> JobRecord:
    """Wait for the job's record to reach succeeded or dead, and return it.

    The worker marks a meeting failed before its job record turns dead, so
    tests wait for both.
    """

    def finished() -> JobRecord | None:
        flush_job_events(wait=True)
        record = JobRecord.objects.filter(job_id=job_id).first()
        if record is None or record.status not in (JobStatus.SUCCEEDED, JobStatus.DEAD):
            return None
        return record

    return wait_until(finished, timeout=WAIT_SECONDS, interval=0.2)


def dead_record_of(actor: str) -> JobRecord | None:
    """Flush job events and return a dead record of ``actor``, if there is one."""
    flush_job_events(wait=True)
    return JobRecord.objects.filter(actor=actor, status=JobStatus.DEAD).first()


def workflow_records() -> list[JobRecord] | None:
    """Return the succeeded records of the three workflow steps in order, once all exist."""
    flush_job_events(wait=True)
    records = {
        record.actor: record
        for record in JobRecord.objects.filter(
            actor__in=WORKFLOW_ACTORS, status=JobStatus.SUCCEEDED
        )
    }
    if len(records) < len(WORKFLOW_ACTORS):
        return None
    return [records[actor] for actor in WORKFLOW_ACTORS]


def mail_for(recipient: str, title: str) -> list[EmailMessage]:
    """Return the .eml files written for ``recipient`` about the meeting ``title``."""
    directory = Path(settings.EMAIL_FILE_PATH)
    messages = []
    for path in sorted(directory.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == recipient and title in str(message["Subject"]):
            messages.append(message)
    return messages


def qmsum_expected(path: Path) -> tuple[int, set[str]]:
    """Return the utterance count and speakers read straight from the JSON file."""
    turns = json.loads(path.read_text(encoding="utf-8"))["meeting_transcripts"]
    return len(turns), {turn["speaker"] for turn in turns}


def stored_speakers(meeting: Meeting) -> set[str]:
    return set(meeting.utterances.values_list("speaker", flat=True))


def assert_good_transcript_processed(title: str) -> None:
    submission = submit_transcript(content=GOOD_PLAIN, filename="good.txt", title=title)
    meeting = wait_for_meeting(submission.meeting.pk)
    assert meeting.status == MeetingStatus.NOTIFIED
    assert meeting.utterances.count() == 2


# QMSum files through the whole workflow


@pytest.mark.parametrize("path", QMSUM_FILES, ids=lambda path: path.stem)
def test_qmsum_workflow_notified(worker, path: Path) -> None:
    title = unique_title(f"QMSum {path.stem}")
    expected_count, expected_speakers = qmsum_expected(path)

    submission = submit_transcript(
        content=path.read_bytes(), filename=path.name, title=title, attendees=ATTENDEES
    )
    meeting = wait_for_meeting(submission.meeting.pk)

    assert meeting.status == MeetingStatus.NOTIFIED, meeting.failure_reason
    assert meeting.failure_reason == ""
    assert meeting.transcript_format == "qmsum"
    assert meeting.utterances.count() == expected_count
    assert stored_speakers(meeting) == expected_speakers

    analysis = Analysis.objects.get(meeting=meeting)
    expected = analyze_utterances(parse_transcript(path.read_bytes()).utterances)
    assert analysis.word_count == expected.word_count
    assert analysis.data["utterance_count"] == expected_count
    assert {row["speaker"] for row in analysis.data["speakers"]} == expected_speakers
    assert analysis.data["keywords"]


def test_qmsum_workflow_jobs(worker) -> None:
    path = QMSUM_FILES[0]
    submission = submit_transcript(
        content=path.read_bytes(),
        filename=path.name,
        title=unique_title("Jobs"),
        attendees=ATTENDEES,
    )
    first = JobRecord.objects.get(job_id=submission.job_id)

    records = wait_for_jobs(first.correlation_id, len(WORKFLOW_ACTORS) + len(ATTENDEES))

    by_actor: dict[str, list[JobRecord]] = {}
    for record in records:
        by_actor.setdefault(record.actor, []).append(record)
    assert sorted(by_actor) == sorted([*WORKFLOW_ACTORS, "send_email"])
    for actor in WORKFLOW_ACTORS:
        assert len(by_actor[actor]) == 1
        assert by_actor[actor][0].status == JobStatus.SUCCEEDED
        assert by_actor[actor][0].payload == {"meeting_id": submission.meeting.pk}
    expected_count, _ = qmsum_expected(path)
    assert by_actor["process_meeting"][0].result_summary == str(expected_count)
    assert by_actor["notify_meeting_attendees"][0].result_summary == str(len(ATTENDEES))
    assert len(by_actor["send_email"]) == len(ATTENDEES)
    assert {r.status for r in by_actor["send_email"]} == {JobStatus.SUCCEEDED}
    assert {r.queue for r in by_actor["send_email"]} == {"emails"}
    assert Meeting.objects.get(pk=submission.meeting.pk).status == MeetingStatus.NOTIFIED


def test_summary_email_per_attendee(worker) -> None:
    path = QMSUM_FILES[0]
    title = unique_title("R&D review: Zoë's 会议")
    submission = submit_transcript(
        content=path.read_bytes(), filename=path.name, title=title, attendees=ATTENDEES
    )
    first = JobRecord.objects.get(job_id=submission.job_id)
    wait_for_jobs(first.correlation_id, len(WORKFLOW_ACTORS) + len(ATTENDEES))
    analysis = Analysis.objects.get(meeting_id=submission.meeting.pk)

    for address in ATTENDEES:
        messages = mail_for(address, title.split()[-1])
        assert len(messages) == 1, f"{address}: {len(messages)} emails"
        message = messages[0]
        # Python's parser keeps the space of a header folded before its first word.
        assert str(message["Subject"]).strip() == f'[Meetingflow] Summary of "{title}"'
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        assert title in text
        assert f"Words spoken: {analysis.word_count}" in text
        assert "Grad A" in text
        assert "R&amp;D review: Zoë&#x27;s 会议" in html
        assert "<table" in html
        assert "Grad A" in html


def test_meeting_without_attendees_notified(worker) -> None:
    submission = submit_transcript(
        content=GOOD_PLAIN, filename="plain.txt", title=unique_title("Nobody")
    )

    meeting = wait_for_meeting(submission.meeting.pk)

    assert meeting.status == MeetingStatus.NOTIFIED
    assert Analysis.objects.filter(meeting=meeting).exists()


# Other formats


@pytest.mark.parametrize(
    ("transcript_format", "content", "count", "speakers", "duration"),
    FORMAT_CASES,
    ids=[case[0] for case in FORMAT_CASES],
)
def test_format_through_worker(
    worker, transcript_format, content, count, speakers, duration
) -> None:
    submission = submit_transcript(
        content=content.encode("utf-8"),
        filename=f"meeting.{transcript_format}",
        title=unique_title(transcript_format),
    )

    meeting = wait_for_meeting(submission.meeting.pk)

    assert meeting.status == MeetingStatus.NOTIFIED, meeting.failure_reason
    assert meeting.transcript_format == transcript_format
    assert meeting.utterances.count() == count
    assert stored_speakers(meeting) == speakers
    analysis = Analysis.objects.get(meeting=meeting)
    assert analysis.data["duration_seconds"] == duration


def test_webvtt_times_stored(worker) -> None:
    submission = submit_transcript(
        content=WEBVTT.encode("utf-8"), filename="times.vtt", title=unique_title("times")
    )

    meeting = wait_for_meeting(submission.meeting.pk)

    rows = list(meeting.utterances.order_by("position").values_list(
        "speaker", "start_seconds", "end_seconds"
    ))
    assert rows == [
        ("Alice", 0.0, 4.0),
        ("Bob", 4.0, 6.5),
        ("Alice", 4.0, 6.5),
        ("Carol", 6.5, 10.0),
    ]


# Malformed input


@pytest.mark.parametrize(
    ("content", "reason_text"),
    [case[1:] for case in MALFORMED_CASES],
    ids=[case[0] for case in MALFORMED_CASES],
)
def test_malformed_transcript_fails(worker, content: bytes, reason_text: str) -> None:
    submission = submit_transcript(
        content=content, filename="bad.txt", title=unique_title("bad"), attendees=ATTENDEES
    )

    meeting = wait_for_meeting(submission.meeting.pk)
    record = finished_job(submission.job_id)

    assert meeting.status == MeetingStatus.FAILED
    assert reason_text in meeting.failure_reason
    assert record.status == JobStatus.DEAD
    assert record.attempts == 1
    assert not JobRecord.objects.filter(actor="analyze_meeting").exists()
    assert not Analysis.objects.filter(meeting=meeting).exists()
    assert worker.is_running()
    assert_good_transcript_processed(unique_title("after bad"))


def test_empty_file_fails(worker) -> None:
    meeting = Meeting.objects.create(title=unique_title("empty"), attendee_emails=ATTENDEES)
    meeting.transcript_file.save("empty.txt", ContentFile(b""))
    job_id = add_process_job(meeting.pk)

    meeting = wait_for_meeting(meeting.pk)
    record = finished_job(job_id)

    assert meeting.status == MeetingStatus.FAILED
    assert "empty" in meeting.failure_reason
    assert record.status == JobStatus.DEAD
    assert record.attempts == 1
    assert worker.is_running()
    assert_good_transcript_processed(unique_title("after empty"))


def test_missing_upload_fails(worker) -> None:
    meeting = Meeting.objects.create(title=unique_title("no file"))
    job_id = add_process_job(meeting.pk)

    meeting = wait_for_meeting(meeting.pk)
    record = finished_job(job_id)

    assert meeting.status == MeetingStatus.FAILED
    assert "transcript_file" in meeting.failure_reason
    assert record.status == JobStatus.DEAD
    assert record.attempts == 1


def test_deleted_meeting_dead_at_once(worker) -> None:
    meeting = Meeting.objects.create(title=unique_title("deleted"))
    meeting_id = meeting.pk
    meeting.delete()

    job_id = add_process_job(meeting_id)

    record = wait_until(
        lambda: JobRecord.objects.filter(job_id=job_id, status=JobStatus.DEAD).first(),
        timeout=WAIT_SECONDS,
    )
    assert record.attempts == 1
    assert f"Meeting {meeting_id} does not exist" in record.last_error


# Status and job order


def test_status_received_until_worker(worker_factory) -> None:
    submission = submit_transcript(
        content=GOOD_PLAIN, filename="plain.txt", title=unique_title("order")
    )
    queued = Meeting.objects.get(pk=submission.meeting.pk)
    assert queued.status == MeetingStatus.RECEIVED
    assert JobRecord.objects.get(job_id=submission.job_id).status == JobStatus.ENQUEUED

    worker_factory()
    meeting = wait_for_meeting(submission.meeting.pk)

    assert meeting.status == MeetingStatus.NOTIFIED
    process, analyse, notify = wait_until(workflow_records, timeout=WAIT_SECONDS, interval=0.2)
    # A step's record is finished after its function enqueued the next step, so
    # only the start times are ordered.
    assert process.started_at <= analyse.started_at
    assert analyse.started_at <= notify.started_at
    assert analyse.enqueued_at >= process.started_at
    assert notify.enqueued_at >= analyse.started_at


def test_analysis_failure_marks_failed(worker) -> None:
    meeting = Meeting.objects.create(title=unique_title("no utterances"))

    job_id = analyze_meeting.enqueue(meeting_id=meeting.pk)

    meeting = wait_for_meeting(meeting.pk)
    record = finished_job(job_id)
    assert meeting.status == MeetingStatus.FAILED
    assert "analyze_meeting failed" in meeting.failure_reason
    assert "no utterances" in meeting.failure_reason
    assert record.status == JobStatus.DEAD
    assert record.attempts == 1


def test_invalid_stored_attendee_fails(worker) -> None:
    meeting = Meeting.objects.create(
        title=unique_title("bad attendee"), attendee_emails=["ok@example.com", "not-an-email"]
    )
    meeting.transcript_file.save("plain.txt", ContentFile(GOOD_PLAIN))

    add_process_job(meeting.pk)
    meeting = wait_for_meeting(meeting.pk)

    assert meeting.status == MeetingStatus.FAILED
    assert "notify_meeting_attendees failed" in meeting.failure_reason
    assert "'not-an-email'" in meeting.failure_reason
    # Once the notify job's record is dead, every event it emitted has been applied.
    wait_until(lambda: dead_record_of("notify_meeting_attendees"), timeout=WAIT_SECONDS)
    assert not JobRecord.objects.filter(actor="send_email").exists()


def test_deleted_upload_fails(worker_factory) -> None:
    submission = submit_transcript(
        content=GOOD_PLAIN, filename="gone.txt", title=unique_title("gone")
    )
    submission.meeting.transcript_file.storage.delete(submission.meeting.transcript_file.name)

    worker_factory()
    meeting = wait_for_meeting(submission.meeting.pk)

    assert meeting.status == MeetingStatus.FAILED
    assert "Transcript rejected" in meeting.failure_reason
    assert finished_job(submission.job_id).attempts == 1


def test_escaped_nul_fails_once(worker) -> None:
    content = b'{"meeting_transcripts": [{"speaker": "Ana", "content": "hi\\u0000 there"}]}'
    submission = submit_transcript(content=content, filename="nul.json", title=unique_title("nul"))

    meeting = wait_for_meeting(submission.meeting.pk)
    record = finished_job(submission.job_id)

    # PostgreSQL text columns reject NUL, so the parser must reject it like raw NUL bytes.
    assert meeting.status == MeetingStatus.FAILED
    assert "NUL" in meeting.failure_reason
    assert record.attempts == 1, record.last_error
