"""The ``import_meeting`` management command, in-process and as a subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from meetings.analysis import analyze_utterances
from meetings.models import Meeting, MeetingSource
from meetings.transcripts import parse_transcript
from queueadmin.models import JobRecord
from tests.workers import BASE_DIR, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)

QMSUM_FILE = BASE_DIR / "meetings" / "sample_data" / "qmsum" / "ES2004a.json"
SUBPROCESS_TIMEOUT = 240


def run_import(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), "import_meeting", *args],
        cwd=BASE_DIR,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )


def test_import_enqueues(broker, tmp_path: Path) -> None:
    path = tmp_path / "standup.txt"
    path.write_text("Alice: Done with the parser.\nBob: Reviewing it now.\n")
    output = StringIO()

    call_command(
        "import_meeting",
        str(path),
        "--title",
        "Stand-up",
        "--attendee",
        "a@example.com",
        "--attendee",
        "b@example.com",
        stdout=output,
    )

    meeting = Meeting.objects.get()
    assert meeting.title == "Stand-up"
    assert meeting.source == MeetingSource.COMMAND
    assert meeting.attendee_emails == ["a@example.com", "b@example.com"]
    record = JobRecord.objects.get(actor="process_meeting")
    assert record.payload == {"meeting_id": meeting.pk}
    assert output.getvalue().strip() == f"Meeting {meeting.pk} queued as job {record.job_id}."


def test_import_title_defaults_to_name(broker, tmp_path: Path) -> None:
    path = tmp_path / "weekly-review.txt"
    path.write_text("Alice: hello\n")

    call_command("import_meeting", str(path), stdout=StringIO())

    assert Meeting.objects.get().title == "weekly-review"


def test_import_missing_file_error(broker, tmp_path: Path) -> None:
    path = tmp_path / "absent.json"

    with pytest.raises(CommandError) as caught:
        call_command("import_meeting", str(path))

    message = str(caught.value)
    assert message == f"File not found: {path}"
    assert not Meeting.objects.exists()


def test_import_directory_error(broker, tmp_path: Path) -> None:
    with pytest.raises(CommandError) as caught:
        call_command("import_meeting", str(tmp_path))

    assert "is a directory" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_import_empty_file_error(broker, tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")

    with pytest.raises(CommandError) as caught:
        call_command("import_meeting", str(path))

    assert str(path) in str(caught.value)
    assert "empty" in str(caught.value)
    assert not Meeting.objects.exists()


def test_import_invalid_attendee_error(broker, tmp_path: Path) -> None:
    path = tmp_path / "meeting.txt"
    path.write_text("Alice: hello\n")

    with pytest.raises(CommandError) as caught:
        call_command("import_meeting", str(path), "--attendee", "nobody")

    assert "attendees[0]" in str(caught.value)
    assert "'nobody'" in str(caught.value)


def test_import_subprocess_missing_file(broker, tmp_path: Path) -> None:
    path = tmp_path / "absent.vtt"

    result = run_import(str(path))

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == f"CommandError: File not found: {path}"


def test_import_wait_prints_analysis(worker) -> None:
    turns = json.loads(QMSUM_FILE.read_text(encoding="utf-8"))["meeting_transcripts"]
    speakers = {turn["speaker"] for turn in turns}
    expected = analyze_utterances(parse_transcript(QMSUM_FILE.read_bytes()).utterances)

    result = run_import(str(QMSUM_FILE), "--attendee", "a@example.com", "--wait")

    assert result.returncode == 0, result.stderr
    assert "[notified]" in result.stdout
    assert f"utterances: {len(turns)}, words: {expected.word_count}" in result.stdout
    for speaker in speakers:
        assert re.search(rf"^    {re.escape(speaker)}\s", result.stdout, re.MULTILINE)
    top_keyword, top_count = expected.keywords[0]
    assert f"top keywords: {top_keyword} ({top_count})" in result.stdout


def test_import_wait_garbage_fails(worker, tmp_path: Path) -> None:
    path = tmp_path / "garbage.bin"
    path.write_bytes(b"\x00\x01\x02garbage\xff")

    result = run_import(str(path), "--wait")

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "[failed]" in result.stdout
    assert "binary" in result.stderr
    assert "CommandError: Meeting" in result.stderr


def test_import_wait_timeout_error(broker, tmp_path: Path) -> None:
    path = tmp_path / "meeting.txt"
    path.write_text("Alice: hello\n")

    with pytest.raises(CommandError) as caught:
        call_command("import_meeting", str(path), "--wait", "--timeout", "0.5", stdout=StringIO())

    assert "were not finished after" in str(caught.value)
    assert "runworkers" in str(caught.value)
