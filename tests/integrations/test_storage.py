"""Recording upload: streamed from a local HTTP server into storage."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
from django.conf import settings
from pytest_httpserver import HTTPServer
from werkzeug import Response

from integrations import storage
from integrations.services import add_upload_recording_job
from meetings.models import Meeting
from queueadmin.errors import InvalidPayloadError, RecoverableError, UnrecoverableError
from queueadmin.models import JobRecord, JobStatus
from tests.helpers import wait_until

MEGABYTE = 1024 * 1024


def _finished(job_id: str, timeout: float = 60) -> JobRecord:
    def finished():
        record = JobRecord.objects.filter(job_id=job_id).first()
        if record and record.status in (JobStatus.SUCCEEDED, JobStatus.DEAD):
            return record
        return None

    return wait_until(finished, timeout=timeout)


def _stored_files(meeting_id: int) -> list[Path]:
    folder = Path(settings.VAR_DIR) / "recordings" / str(meeting_id)
    return sorted(folder.iterdir()) if folder.exists() else []


def _partial_files() -> list[Path]:
    folder = Path(settings.VAR_DIR) / "tmp"
    return sorted(folder.glob("recording-*")) if folder.exists() else []


@pytest.fixture(autouse=True)
def _empty_recording_folders():
    # Meeting ids repeat between tests, so files of an earlier test would show up.
    for name in ("recordings", "tmp"):
        shutil.rmtree(Path(settings.VAR_DIR) / name, ignore_errors=True)


@pytest.fixture
def meeting(transactional_db) -> Meeting:
    return Meeting.objects.create(title="Quarterly review")


@pytest.fixture
def upload_worker(worker_factory):
    return worker_factory(["external_api"], threads=1)


def test_several_megabytes_stored_with_checksum(upload_worker, httpserver, meeting):
    data = os.urandom(6 * MEGABYTE + 123)
    httpserver.expect_request("/files/review.mp4", method="GET").respond_with_data(
        data, content_type="video/mp4"
    )

    job_id = add_upload_recording_job(
        httpserver.url_for("/files/review.mp4"), "review.mp4", meeting.pk
    )
    record = _finished(job_id)

    assert record.status == JobStatus.SUCCEEDED, record.last_error
    meeting.refresh_from_db()
    assert meeting.recording_sha256 == hashlib.sha256(data).hexdigest()
    assert meeting.recording_size_bytes == len(data)
    assert meeting.recording_location == f"local:{meeting.pk}/review.mp4"
    files = _stored_files(meeting.pk)
    assert [path.name for path in files] == ["review.mp4"]
    assert files[0].read_bytes() == data
    assert _partial_files() == []


def test_404_dead_lettered_at_once(upload_worker, httpserver, meeting):
    httpserver.expect_request("/files/gone.mp4").respond_with_json(
        {"code": "NoSuchKey", "message": "The object does not exist."}, status=404
    )

    job_id = add_upload_recording_job(httpserver.url_for("/files/gone.mp4"), "gone.mp4", meeting.pk)
    record = _finished(job_id)

    assert record.status == JobStatus.DEAD
    assert record.attempts == 1
    assert "HTTP 404" in record.last_error
    assert "NoSuchKey" in record.last_error
    assert _stored_files(meeting.pk) == []
    meeting.refresh_from_db()
    assert meeting.recording_location == ""


def test_503_retried_then_stored_once(upload_worker, httpserver, meeting):
    data = os.urandom(MEGABYTE)
    httpserver.expect_oneshot_request("/files/busy.mp4").respond_with_data(
        "busy", status=503, headers={"Retry-After": "1"}
    )
    httpserver.expect_request("/files/busy.mp4").respond_with_data(data, content_type="video/mp4")

    job_id = add_upload_recording_job(httpserver.url_for("/files/busy.mp4"), "busy.mp4", meeting.pk)
    record = _finished(job_id)

    assert record.status == JobStatus.SUCCEEDED, record.last_error
    assert record.attempts == 2
    assert len(httpserver.log) == 2
    assert [path.name for path in _stored_files(meeting.pk)] == ["busy.mp4"]
    meeting.refresh_from_db()
    assert meeting.recording_sha256 == hashlib.sha256(data).hexdigest()


@pytest.fixture
def stalling_server():
    """A threaded server whose /stall response sends 64 KiB every half second."""
    stop = threading.Event()
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)

    def trickle():
        while not stop.is_set():
            yield b"\0" * 65536
            time.sleep(0.5)

    server.expect_request("/stall").respond_with_handler(
        lambda request: Response(trickle(), content_type="video/mp4")
    )
    server.expect_request("/small.mp4").respond_with_data(b"x" * 1000, content_type="video/mp4")
    server.start()
    yield server
    stop.set()
    server.clear()
    server.stop()


def test_stalling_server_ends_at_time_limit(worker_factory, stalling_server, meeting):
    worker = worker_factory(
        ["external_api"],
        threads=1,
        RECORDINGS_UPLOAD_TIME_LIMIT_SECONDS="2",
        QUEUE_DEFAULT_ATTEMPTS="1",
    )

    started = time.monotonic()
    job_id = add_upload_recording_job(stalling_server.url_for("/stall"), "stall.mp4", meeting.pk)
    record = _finished(job_id, timeout=30)
    elapsed = time.monotonic() - started

    assert record.status == JobStatus.DEAD
    assert "TimeLimitExceeded" in record.last_error
    assert elapsed < 20
    assert _stored_files(meeting.pk) == []
    assert _partial_files() == []

    # The one worker thread is still alive and takes the next job.
    small_url = stalling_server.url_for("/small.mp4")
    second = add_upload_recording_job(small_url, "small.mp4", meeting.pk)
    assert _finished(second).status == JobStatus.SUCCEEDED
    assert worker.is_running()


@pytest.mark.django_db
def test_download_streams_without_holding_file(httpserver):
    meeting = Meeting.objects.create(title="Memory check")
    data = os.urandom(16 * MEGABYTE)
    httpserver.expect_request("/big.mp4").respond_with_data(data, content_type="video/mp4")

    tracemalloc.start()
    try:
        stored = storage.upload_recording(httpserver.url_for("/big.mp4"), "big.mp4", meeting.pk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert stored.size_bytes == len(data)
    # The server side of this test keeps the file in memory, so compare with a margin.
    assert peak < len(data) * 1.5 + 8 * MEGABYTE


@pytest.mark.django_db
def test_wrong_content_type_rejected(httpserver):
    meeting = Meeting.objects.create(title="Wrong type")
    httpserver.expect_request("/page").respond_with_data("<html></html>", content_type="text/html")

    with pytest.raises(UnrecoverableError, match="content type 'text/html'"):
        storage.upload_recording(httpserver.url_for("/page"), "page.mp4", meeting.pk)

    assert _stored_files(meeting.pk) == []


@pytest.mark.django_db
def test_size_limit_leaves_no_file(httpserver, settings):
    settings.RECORDINGS_MAX_BYTES = MEGABYTE
    meeting = Meeting.objects.create(title="Too big")

    def chunked(request):
        # No Content-Length, so only the streamed count can catch the size.
        return Response((b"\0" * 65536 for _ in range(40)), content_type="video/mp4")

    httpserver.expect_request("/huge.mp4").respond_with_handler(chunked)

    with pytest.raises(UnrecoverableError, match="over the limit of 1048576 bytes"):
        storage.upload_recording(httpserver.url_for("/huge.mp4"), "huge.mp4", meeting.pk)

    assert _stored_files(meeting.pk) == []
    assert _partial_files() == []


@pytest.mark.django_db
def test_connection_refused_is_recoverable():
    meeting = Meeting.objects.create(title="Nobody home")
    from tests.notifications.conftest import _free_port

    url = f"http://127.0.0.1:{_free_port()}/x.mp4"
    with pytest.raises(RecoverableError, match="failed"):
        storage.upload_recording(url, "x.mp4", meeting.pk)


@pytest.mark.django_db
def test_unknown_storage_provider_rejected_at_enqueue():
    with pytest.raises(InvalidPayloadError, match="storage_provider"):
        add_upload_recording_job("https://files.test/a.mp4", "a.mp4", 1, "azure")


@pytest.mark.django_db
def test_octet_stream_checked_by_file_name(httpserver):
    meeting = Meeting.objects.create(title="Generic type")
    httpserver.expect_request("/obj").respond_with_data(
        b"\0" * 2048, content_type="application/octet-stream"
    )

    stored = storage.upload_recording(httpserver.url_for("/obj"), "talk.mp4", meeting.pk)
    with pytest.raises(UnrecoverableError, match="Recording has content type"):
        storage.upload_recording(httpserver.url_for("/obj"), "setup.exe", meeting.pk)

    assert stored.size_bytes == 2048
    assert [path.name for path in _stored_files(meeting.pk)] == ["talk.mp4"]
