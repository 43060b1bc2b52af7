"""Tencent Meeting import against a local server that checks each signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from werkzeug import Request, Response

from integrations.http import ProviderRejectedError
from integrations.models import ExternalSync, SyncStatus
from integrations.services import add_tencent_meeting_sync_job
from integrations.tencent_meeting import TencentMeetingClient
from integrations.tencent_sync import sync_tencent_meetings
from meetings.models import Meeting, MeetingSource, MeetingStatus
from queueadmin.models import JobRecord, JobStatus
from queueadmin.records import flush_job_events
from tests.helpers import wait_until

SECRET_ID = "AKIDtestsecretid"
SECRET_KEY = "test-secret-key-never-logged"
APP_ID = "210000001"
SDK_ID = "18000000001"
START = datetime(2026, 4, 1, tzinfo=timezone.utc)
END = START + timedelta(days=7)


def expected_signature(request: Request) -> str:
    """Recompute X-TC-Signature as the Tencent Meeting authentication page specifies."""
    uri = request.path
    if request.query_string:
        uri += "?" + request.query_string.decode()
    header_string = (
        f"X-TC-Key={request.headers['X-TC-Key']}"
        f"&X-TC-Nonce={request.headers['X-TC-Nonce']}"
        f"&X-TC-Timestamp={request.headers['X-TC-Timestamp']}"
    )
    to_sign = f"{request.method}\n{header_string}\n{uri}\n{request.get_data(as_text=True)}"
    hex_digest = hmac.new(SECRET_KEY.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return base64.b64encode(hex_digest.encode()).decode()


class FakeTencentMeeting:
    """Serve the record list, addresses and transcript endpoints like the real API."""

    def __init__(self, file_url: str) -> None:
        self.file_url = file_url
        self.requests: list[Request] = []
        self.pages = {
            1: {
                "total_count": 3,
                "total_page": 2,
                "record_meetings": [
                    _record("m-100", "rec-100", "Design review", state=3),
                    _record("m-200", "rec-200", "Still transcoding", state=2),
                ],
            },
            2: {
                "total_count": 3,
                "total_page": 2,
                "record_meetings": [_record("m-300", "rec-300", "Retro", state=3)],
            },
        }

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        problem = self._check(request)
        if problem:
            info = {"error_code": 190303, "new_error_code": 200190303, "message": problem}
            body = {"error_info": info}
            return Response(json.dumps(body), status=401, content_type="application/json")
        if request.path == "/v1/corp/records":
            return _json(self.pages[int(request.args["page"])])
        if request.path == "/v1/addresses":
            record_id = request.args["meeting_record_id"]
            files = [{
                "record_file_id": f"file-{record_id}",
                "download_address": f"{self.file_url}?sign=secret-token",
                "download_address_file_type": "mp4",
            }]
            return _json({"total_page": 1, "meeting_record_id": record_id, "record_files": files})
        if request.path == "/v1/records/transcripts/details":
            return _json({"minutes": _minutes(request.args["meeting_id"])})
        return Response("not found", status=404)

    def _check(self, request: Request) -> str:
        if request.method != "GET":
            return f"unexpected method {request.method}"
        expected_headers = {
            "X-TC-Key": SECRET_ID,
            "AppId": APP_ID,
            "SdkId": SDK_ID,
            "X-TC-Registered": "1",
        }
        for name, value in expected_headers.items():
            if request.headers.get(name) != value:
                return f"header {name} is {request.headers.get(name)!r}"
        if abs(int(request.headers["X-TC-Timestamp"]) - time.time()) > 300:
            return "timestamp out of range"
        if not request.headers["X-TC-Nonce"].isdigit():
            return "nonce is not a positive integer"
        if request.headers.get("X-TC-Signature") != expected_signature(request):
            return "signature failed"
        operator = (request.args.get("operator_id"), request.args.get("operator_id_type"))
        if operator != ("admin", "1"):
            return "operator missing"
        return ""


def _record(meeting_id: str, record_id: str, subject: str, state: int) -> dict:
    return {
        "meeting_record_id": record_id,
        "meeting_id": meeting_id,
        "meeting_code": "123456789",
        "subject": subject,
        "media_start_time": int(START.timestamp() * 1000) + 3_600_000,
        "state": state,
    }


def _minutes(meeting_id: str) -> dict:
    def sentence(*words: str) -> dict:
        return {"words": [{"text": word} for word in words]}

    return {
        "paragraphs": [
            {
                "speaker_info": {"username": "Alice"},
                "sentences": [sentence("Hello ", "team, ", "welcome.")],
            },
            {
                "speaker_info": {"userid": "bob"},
                "sentences": [sentence("Thanks ", "Alice."), sentence(" Shall we start?")],
            },
        ]
    }


def _json(body: dict) -> Response:
    return Response(json.dumps(body), content_type="application/json")


@pytest.fixture
def tencent(httpserver, settings) -> FakeTencentMeeting:
    settings.TENCENT_MEETING_BASE_URL = httpserver.url_for("/").rstrip("/")
    settings.TENCENT_MEETING_APP_ID = APP_ID
    settings.TENCENT_MEETING_SDK_ID = SDK_ID
    settings.TENCENT_MEETING_SECRET_ID = SECRET_ID
    settings.TENCENT_MEETING_SECRET_KEY = SECRET_KEY
    settings.TENCENT_MEETING_OPERATOR_ID = "admin"
    fake = FakeTencentMeeting(httpserver.url_for("/files/recording.mp4"))
    httpserver.expect_request("/v1/corp/records").respond_with_handler(fake)
    httpserver.expect_request("/v1/addresses").respond_with_handler(fake)
    httpserver.expect_request("/v1/records/transcripts/details").respond_with_handler(fake)
    return fake


@pytest.mark.django_db
def test_sync_creates_meetings_and_jobs(tencent, broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        report = sync_tencent_meetings(START, END)

    meetings = Meeting.objects.filter(source=MeetingSource.TENCENT).order_by("external_id")
    assert [m.external_id for m in meetings] == ["m-100", "m-300"]
    assert [m.title for m in meetings] == ["Design review", "Retro"]
    assert meetings[0].starts_at == START + timedelta(hours=1)
    with meetings[0].transcript_file.open("rb") as transcript:
        assert transcript.read().decode() == (
            "Alice: Hello team, welcome.\nbob: Thanks Alice. Shall we start?"
        )
    assert report.meetings_created == 2
    assert len(report.recording_jobs) == 2
    assert len(report.process_jobs) == 2
    actors = sorted(JobRecord.objects.values_list("actor", flat=True))
    assert actors == ["process_meeting", "process_meeting", "upload_recording", "upload_recording"]
    upload = JobRecord.objects.filter(actor="upload_recording").first()
    assert upload.payload["file_url"].endswith("/files/recording.mp4?sign=secret-token")
    pages = [r.args["page"] for r in tencent.requests if r.path == "/v1/corp/records"]
    assert pages == ["1", "2"]
    record_query = next(r for r in tencent.requests if r.path == "/v1/corp/records").args
    assert record_query["start_time"] == str(int(START.timestamp()))
    assert record_query["end_time"] == str(int(END.timestamp()))


@pytest.mark.django_db
def test_sync_again_updates_same_rows(tencent, broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sync_tencent_meetings(START, END)
    tencent.pages[1]["record_meetings"][0]["subject"] = "Design review (renamed)"

    with django_capture_on_commit_callbacks(execute=True):
        report = sync_tencent_meetings(START, END)

    assert Meeting.objects.filter(source=MeetingSource.TENCENT).count() == 2
    assert report.meetings_created == 0
    assert report.meetings_updated == 2
    assert report.process_jobs == []
    assert report.recording_jobs == []
    assert JobRecord.objects.filter(actor="upload_recording").count() == 2
    renamed = Meeting.objects.get(source=MeetingSource.TENCENT, external_id="m-100")
    assert renamed.title == "Design review (renamed)"


@pytest.mark.django_db
def test_wrong_secret_rejected_with_code(tencent, settings):
    settings.TENCENT_MEETING_SECRET_KEY = "not-the-secret"

    with TencentMeetingClient() as client:
        with pytest.raises(ProviderRejectedError) as excinfo:
            list(client.iter_record_meetings(int(START.timestamp()), int(END.timestamp())))

    assert excinfo.value.code == "200190303"
    assert "signature failed" in str(excinfo.value)
    assert "not-the-secret" not in str(excinfo.value)


def test_period_over_31_days_rejected(tencent):
    from queueadmin.errors import UnrecoverableError

    with TencentMeetingClient() as client:
        with pytest.raises(UnrecoverableError, match="longer than 31 days"):
            list(client.iter_record_meetings(0, 32 * 86400))


@pytest.mark.django_db(transaction=True)
def test_sync_job_runs_whole_workflow(worker_factory, httpserver, tencent):
    httpserver.expect_request("/files/recording.mp4").respond_with_data(
        b"\0" * 200_000, content_type="video/mp4"
    )
    worker_factory(
        threads=2,
        TENCENT_MEETING_BASE_URL=httpserver.url_for("/").rstrip("/"),
        TENCENT_MEETING_APP_ID=APP_ID,
        TENCENT_MEETING_SDK_ID=SDK_ID,
        TENCENT_MEETING_SECRET_ID=SECRET_ID,
        TENCENT_MEETING_SECRET_KEY=SECRET_KEY,
        TENCENT_MEETING_OPERATOR_ID="admin",
    )

    job_id = add_tencent_meeting_sync_job(START, END)

    def all_done():
        meetings = list(Meeting.objects.filter(source=MeetingSource.TENCENT))
        done = len(meetings) == 2 and all(
            m.status == MeetingStatus.NOTIFIED and m.recording_sha256 for m in meetings
        )
        return meetings if done else None

    meetings = wait_until(all_done, timeout=90)

    def sync_status():
        # The worker writes records from buffered events, shortly after the job.
        flush_job_events(wait=True)
        record = JobRecord.objects.filter(job_id=job_id).first()
        return record.status if record and record.status == JobStatus.SUCCEEDED else None

    assert wait_until(sync_status, timeout=30) == JobStatus.SUCCEEDED
    for meeting in meetings:
        assert meeting.recording_sha256 == hashlib.sha256(b"\0" * 200_000).hexdigest()
        lark = ExternalSync.objects.get(meeting=meeting, target="lark_bitable")
        assert lark.status == SyncStatus.SKIPPED


@pytest.mark.django_db
def test_sync_again_retries_dead_uploads(tencent, broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sync_tencent_meetings(START, END)
    JobRecord.objects.filter(actor="upload_recording").update(status=JobStatus.DEAD)

    with django_capture_on_commit_callbacks(execute=True):
        report = sync_tencent_meetings(START, END)

    assert len(report.recording_jobs) == 2
    keys = set(JobRecord.objects.values_list("idempotency_key", flat=True))
    assert "tencent-recording:file-rec-100" in keys
    assert "tencent-recording:file-rec-300" in keys


@pytest.mark.django_db
def test_command_enqueues_sync_job(tencent, broker, django_capture_on_commit_callbacks):
    from io import StringIO

    from django.core.management import call_command

    output = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sync_tencent_meetings", "--days", "2", stdout=output)

    record = JobRecord.objects.get(actor="sync_tencent_meetings")
    assert record.job_id in output.getvalue()
    assert record.payload["storage_provider"] == "local"


def test_command_rejects_long_period(tencent):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="between 1 and 31"):
        call_command("sync_tencent_meetings", "--days", "40")


def test_sync_schedule_declared_only_when_configured(tencent, settings):
    from integrations.tasks import (
        TENCENT_MEETING_SYNC_SCHEDULE,
        register_tencent_meeting_sync_schedule,
    )
    from queueadmin.schedules import get_code_schedules

    def declared_names() -> list[str]:
        return [spec.name for spec in get_code_schedules()]

    # tests/conftest.py imported the tasks module without credentials.
    assert TENCENT_MEETING_SYNC_SCHEDULE not in declared_names()
    try:
        spec = register_tencent_meeting_sync_schedule()

        assert spec is not None
        assert spec.actor_name == "sync_recent_tencent_meetings"
        assert spec.cron == settings.TENCENT_MEETING_SYNC_CRON
        assert spec.payload == {"lookback_hours": 24, "storage_provider": "local"}
        assert TENCENT_MEETING_SYNC_SCHEDULE in declared_names()
    finally:
        settings.TENCENT_MEETING_SECRET_ID = ""
        withdrawn = register_tencent_meeting_sync_schedule()
    assert withdrawn is None
    assert TENCENT_MEETING_SYNC_SCHEDULE not in declared_names()


def test_sync_schedule_needs_cron(tencent, settings):
    from integrations.tasks import (
        TENCENT_MEETING_SYNC_SCHEDULE,
        register_tencent_meeting_sync_schedule,
    )
    from queueadmin.schedules import get_code_schedules

    settings.TENCENT_MEETING_SYNC_CRON = ""

    assert register_tencent_meeting_sync_schedule() is None
    assert TENCENT_MEETING_SYNC_SCHEDULE not in [spec.name for spec in get_code_schedules()]


@pytest.mark.django_db
def test_periodic_sync_without_credentials_does_nothing(caplog):
    from integrations.tasks import sync_recent_tencent_meetings

    with caplog.at_level("WARNING", logger="integrations.tasks"):
        seen = sync_recent_tencent_meetings(lookback_hours=24)

    assert seen == 0
    assert "sync skipped because Tencent Meeting is not configured" in caplog.text
    assert not Meeting.objects.filter(source=MeetingSource.TENCENT).exists()


@pytest.mark.django_db(transaction=True)
def test_periodic_sync_imports_period_before_fire_time(worker_factory, httpserver, tencent):
    from queueadmin.firing import fire_schedule
    from queueadmin.models import Schedule

    httpserver.expect_request("/files/recording.mp4").respond_with_data(
        b"\0" * 1000, content_type="video/mp4"
    )
    worker_factory(
        queues=["external_api"],
        TENCENT_MEETING_BASE_URL=httpserver.url_for("/").rstrip("/"),
        TENCENT_MEETING_APP_ID=APP_ID,
        TENCENT_MEETING_SDK_ID=SDK_ID,
        TENCENT_MEETING_SECRET_ID=SECRET_ID,
        TENCENT_MEETING_SECRET_KEY=SECRET_KEY,
        TENCENT_MEETING_OPERATOR_ID="admin",
    )
    schedule = Schedule(
        name="tencent-weekly",
        actor="sync_recent_tencent_meetings",
        arguments={"lookback_hours": 7 * 24},
        cron="0 0 * * 3",
    )
    schedule.save()

    job_id = fire_schedule(schedule, END)

    def sync_record():
        flush_job_events(wait=True)
        record = JobRecord.objects.filter(job_id=job_id).first()
        return record if record and record.status == JobStatus.SUCCEEDED else None

    record = wait_until(sync_record, timeout=60)
    assert record.idempotency_key == "schedule:tencent-weekly:2026-04-08T00:00:00+00:00"
    assert record.result_summary == "2"
    meetings = Meeting.objects.filter(source=MeetingSource.TENCENT).order_by("external_id")
    assert [m.external_id for m in meetings] == ["m-100", "m-300"]
    record_query = next(r for r in tencent.requests if r.path == "/v1/corp/records").args
    assert record_query["start_time"] == str(int(START.timestamp()))
    assert record_query["end_time"] == str(int(END.timestamp()))
