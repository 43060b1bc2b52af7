"""``manage.py demo`` end to end: its printed numbers match the parsed sample files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from meetings.analysis import analyze_utterances
from meetings.transcripts import parse_transcript
from tests.workers import BASE_DIR, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)

SAMPLE_FILES = sorted((BASE_DIR / "meetings" / "sample_data" / "qmsum").glob("*.json"))
DEMO_TIMEOUT_SECONDS = 240


@pytest.fixture(scope="module")
def demo_output(django_db_setup, django_db_blocker) -> subprocess.CompletedProcess[str]:
    """Run the demo once for the module against the test database and broker."""
    with django_db_blocker.unblock():
        command = [
            sys.executable,
            str(BASE_DIR / "manage.py"),
            "demo",
            "--timeout",
            str(DEMO_TIMEOUT_SECONDS),
        ]
        return subprocess.run(
            command,
            cwd=BASE_DIR,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=DEMO_TIMEOUT_SECONDS + 120,
        )


def meeting_block(output: str, path: Path) -> str:
    """Return the lines that the demo printed for the meeting of ``path``."""
    match = re.search(
        rf"^Meeting \d+: QMSum {re.escape(path.stem)} \[\w+\]\n(?:  .*\n?)*",
        output,
        re.MULTILINE,
    )
    assert match is not None, f"no block for {path.stem} in:\n{output}"
    return match.group(0)


def test_demo_exits_zero(broker, demo_output) -> None:
    assert demo_output.returncode == 0, demo_output.stderr
    assert "Traceback" not in demo_output.stderr


def test_demo_all_meetings_done(broker, demo_output) -> None:
    total = len(SAMPLE_FILES)

    assert f"{total}/{total} meetings done" in demo_output.stdout
    assert f"Summary emails sent: {2 * total}" in demo_output.stdout
    assert "Workers stopped (exit code 0)" in demo_output.stdout
    assert "as .eml files in" in demo_output.stdout


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda path: path.stem)
def test_demo_meeting_numbers(broker, demo_output, path: Path) -> None:
    turns = json.loads(path.read_text(encoding="utf-8"))["meeting_transcripts"]
    speakers = {turn["speaker"] for turn in turns}
    expected = analyze_utterances(parse_transcript(path.read_bytes()).utterances)

    block = meeting_block(demo_output.stdout, path)

    assert "[notified]" in block.splitlines()[0]
    assert f"format: qmsum, utterances: {len(turns)}, words: {expected.word_count}" in block
    printed_speakers = set(re.findall(r"^    (.+?)\s{2,}", block, re.MULTILINE))
    assert printed_speakers == speakers
    for stats in expected.speakers:
        assert f"({stats.word_count} words)" in block
    keyword, count = expected.keywords[0]
    assert f"top keywords: {keyword} ({count})" in block
