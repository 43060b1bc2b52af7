"""The meetings REST API with Django's test client against the real Redis broker."""

from __future__ import annotations

import json
from datetime import timedelta

import dramatiq
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from meetings.models import Meeting, MeetingSource, MeetingStatus
from queueadmin.models import ApiToken, JobRecord, JobStatus
from tests.helpers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/meetings"
TRANSCRIPT = b"Alice: The launch is on track.\nBob: Great, thanks for the update.\n"


@pytest.fixture
def user():
    return get_user_model().objects.create_user("ana", "ana@example.com", "correct-horse-9")


def make_token(user, **fields) -> str:
    token = ApiToken(name="tests", user=user, **fields)
    raw_token = token.set_new_key()
    token.save()
    return raw_token


@pytest.fixture
def token(user) -> str:
    return make_token(user)


def bearer(raw_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw_token}"}


def upload(content: bytes = TRANSCRIPT, name: str = "meeting.txt") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/plain")


def post_file(client: Client, raw_token: str, **fields):
    data = {"file": upload(), "title": "Launch sync", **fields}
    return client.post(URL, data, headers=bearer(raw_token))


def post_json(client: Client, raw_token: str, body: dict):
    return client.post(
        URL, json.dumps(body), content_type="application/json", headers=bearer(raw_token)
    )


def queued_job_ids(redis_client) -> set[str]:
    key = f"{settings.QUEUE_REDIS_NAMESPACE}:meetings.msgs"
    return {dramatiq.Message.decode(raw).message_id for raw in redis_client.hvals(key)}


def error_locations(response) -> list[list]:
    return [error["loc"] for error in response.json()["detail"]]


# Submitting


def test_post_file_accepted(broker, redis_client, token) -> None:
    response = post_file(Client(), token, attendees=["a@example.com", "b@example.com"])

    assert response.status_code == 202
    body = response.json()
    meeting = Meeting.objects.get(pk=body["meeting_id"])
    assert body["status"] == MeetingStatus.RECEIVED
    assert meeting.title == "Launch sync"
    assert meeting.source == MeetingSource.API
    assert meeting.attendee_emails == ["a@example.com", "b@example.com"]
    assert meeting.transcript_file.read() == TRANSCRIPT
    assert body["job_id"] in queued_job_ids(redis_client)
    record = JobRecord.objects.get(job_id=body["job_id"])
    assert record.actor == "process_meeting"
    assert record.status == JobStatus.ENQUEUED
    assert record.payload == {"meeting_id": meeting.pk}


def test_post_records_token_user(broker, user, token) -> None:
    response = post_file(Client(), token)

    record = JobRecord.objects.get(job_id=response.json()["job_id"])
    assert record.user_id == str(user.pk)


def test_post_json_accepted(broker, redis_client, token) -> None:
    body = {
        "title": "JSON sync",
        "attendees": ["c@example.com"],
        "filename": "sync.txt",
        "transcript": TRANSCRIPT.decode(),
    }

    response = post_json(Client(), token, body)

    assert response.status_code == 202
    meeting = Meeting.objects.get(pk=response.json()["meeting_id"])
    assert meeting.title == "JSON sync"
    assert meeting.attendee_emails == ["c@example.com"]
    assert response.json()["job_id"] in queued_job_ids(redis_client)


def test_post_json_non_ascii_kept(broker, token) -> None:
    text = "Zoë: 会议 starts now.\n"

    response = post_json(Client(), token, {"transcript": text})

    meeting = Meeting.objects.get(pk=response.json()["meeting_id"])
    assert meeting.transcript_file.read().decode("utf-8") == text


# Authentication


def test_post_anonymous_unauthorized(broker, redis_client) -> None:
    response = Client().post(URL, {"file": upload()})

    assert response.status_code == 401
    assert not Meeting.objects.exists()
    assert queued_job_ids(redis_client) == set()


def test_get_anonymous_unauthorized(broker, user) -> None:
    meeting = Meeting.objects.create(title="private")

    response = Client().get(f"{URL}/{meeting.pk}")

    assert response.status_code == 401


def test_get_with_token(broker, token) -> None:
    meeting = Meeting.objects.create(title="visible")

    response = Client().get(f"{URL}/{meeting.pk}", headers=bearer(token))

    assert response.status_code == 200
    assert response.json()["title"] == "visible"
    assert response.json()["analysis"] is None


def test_unknown_token_unauthorized(broker) -> None:
    response = Client().get(f"{URL}/1", headers=bearer("not-a-real-token"))

    assert response.status_code == 401


def test_revoked_token_unauthorized(broker, user) -> None:
    raw_token = make_token(user, revoked_at=timezone.now())

    response = post_file(Client(), raw_token)

    assert response.status_code == 401
    assert not Meeting.objects.exists()


def test_expired_token_unauthorized(broker, user) -> None:
    raw_token = make_token(user, expires_at=timezone.now() - timedelta(minutes=1))

    response = post_file(Client(), raw_token)

    assert response.status_code == 401


def test_inactive_user_token_unauthorized(broker, user, token) -> None:
    user.is_active = False
    user.save()

    response = post_file(Client(), token)

    assert response.status_code == 401


def test_session_get_allowed(broker, user) -> None:
    meeting = Meeting.objects.create(title="session")
    client = Client()
    client.force_login(user)

    response = client.get(f"{URL}/{meeting.pk}")

    assert response.status_code == 200
    assert response.json()["id"] == meeting.pk


def test_session_post_without_csrf_forbidden(broker, user) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(URL, {"file": upload()})

    assert response.status_code == 403
    assert not Meeting.objects.exists()


def test_session_post_with_token_accepted(broker, user, token) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(URL, {"file": upload()}, headers=bearer(token))

    assert response.status_code == 202


# Malformed input


def test_upload_over_limit_rejected(broker, token, settings) -> None:
    settings.MEETINGS_MAX_UPLOAD_BYTES = 1024

    response = post_file(Client(), token, file=upload(b"A: " + b"x" * 2048))

    assert response.status_code == 413
    assert "1024" in response.json()["detail"]
    assert not Meeting.objects.exists()


def test_request_far_over_limit_rejected(broker, token, settings) -> None:
    settings.MEETINGS_MAX_UPLOAD_BYTES = 1024

    response = post_file(Client(), token, file=upload(b"A: " + b"x" * 200_000))

    assert response.status_code == 413
    assert "1024" in response.json()["detail"]


def test_json_over_limit_rejected(broker, token, settings) -> None:
    settings.MEETINGS_MAX_UPLOAD_BYTES = 1024

    response = post_json(Client(), token, {"transcript": "A: " + "x" * 2048})

    assert response.status_code == 413
    assert "1024" in response.json()["detail"]


def test_missing_file_names_field(broker, token) -> None:
    response = Client().post(URL, {"title": "no file"}, headers=bearer(token))

    assert response.status_code == 422
    assert ["body", "file"] in error_locations(response)


def test_invalid_attendee_names_field(broker, token) -> None:
    response = post_file(Client(), token, attendees=["ok@example.com", "not-an-email"])

    assert response.status_code == 422
    assert error_locations(response)[0][:2] == ["body", "attendees"]
    assert not Meeting.objects.exists()


def test_json_invalid_attendee_names_field(broker, token) -> None:
    response = post_json(Client(), token, {"transcript": "A: hi", "attendees": ["nobody"]})

    assert response.status_code == 422
    assert error_locations(response)[0][:2] == ["body", "attendees"]


def test_json_empty_transcript_names_field(broker, token) -> None:
    response = post_json(Client(), token, {"title": "empty", "transcript": ""})

    assert response.status_code == 422
    assert ["body", "transcript"] in error_locations(response)


def test_json_missing_transcript_names_field(broker, token) -> None:
    response = post_json(Client(), token, {"title": "nothing"})

    assert response.status_code == 422
    assert ["body", "transcript"] in error_locations(response)


def test_json_syntax_error_rejected(broker, token) -> None:
    response = Client().post(
        URL, "{not json", content_type="application/json", headers=bearer(token)
    )

    assert response.status_code in (400, 422)
    assert not Meeting.objects.exists()


def test_empty_upload_rejected(broker, token) -> None:
    response = post_file(Client(), token, file=upload(b""))

    assert response.status_code == 400
    assert "empty" in response.json()["detail"]
    assert not Meeting.objects.exists()


def test_blank_json_transcript_rejected(broker, token) -> None:
    response = post_json(Client(), token, {"transcript": "   \n"})

    assert response.status_code == 400
    assert "transcript" in response.json()["detail"]
    assert "empty" in response.json()["detail"]


# Reading


def test_get_unknown_meeting_not_found(broker, token) -> None:
    response = Client().get(f"{URL}/999999", headers=bearer(token))

    assert response.status_code == 404


def _staff_client() -> Client:
    user = get_user_model().objects.create_user("docs-reader", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


def test_openapi_lists_meetings(broker, db) -> None:
    schema = _staff_client().get("/api/openapi.json")

    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/meetings" in paths
    assert "post" in paths["/api/meetings"]
    assert "/api/meetings/{meeting_id}" in paths


def test_docs_page_served(broker, db) -> None:
    response = _staff_client().get("/api/docs")

    assert response.status_code == 200
    assert b"openapi.json" in response.content


def test_docs_page_anonymous_rejected(broker, db) -> None:
    assert Client().get("/api/docs").status_code == 401
    assert Client().get("/api/openapi.json").status_code == 401


def test_api_workflow_end_to_end(worker, token) -> None:
    client = Client()
    response = post_file(client, token, attendees=["a@example.com"])
    meeting_url = f"{URL}/{response.json()['meeting_id']}"

    def notified() -> dict | None:
        body = client.get(meeting_url, headers=bearer(token)).json()
        return body if body["status"] in ("notified", "failed") else None

    body = wait_until(notified, timeout=180, interval=0.2)

    assert body["status"] == "notified", body["failure_reason"]
    assert body["transcript_format"] == "plain"
    assert body["utterance_count"] == 2
    assert body["analysis"]["word_count"] == 10
    assert {row["speaker"] for row in body["analysis"]["speakers"]} == {"Alice", "Bob"}


def test_upload_at_limit_accepted(broker, token, settings) -> None:
    settings.MEETINGS_MAX_UPLOAD_BYTES = 1024
    content = b"A: " + b"x" * (1024 - 3)

    response = post_file(Client(), token, file=upload(content))

    assert response.status_code == 202


def test_json_filename_path_stripped(broker, token) -> None:
    response = post_json(
        Client(), token, {"transcript": "A: hi", "filename": "../../outside/evil.txt"}
    )

    meeting = Meeting.objects.get(pk=response.json()["meeting_id"])
    assert meeting.transcript_file.name.startswith("transcripts/")
    assert ".." not in meeting.transcript_file.name
    assert meeting.transcript_file.name.endswith(".txt")


def test_api_failed_meeting_reason(worker, token) -> None:
    client = Client()
    response = post_file(client, token, file=upload(b"\x00\x01binary"))
    meeting_url = f"{URL}/{response.json()['meeting_id']}"

    def finished() -> dict | None:
        body = client.get(meeting_url, headers=bearer(token)).json()
        return body if body["status"] in ("notified", "failed") else None

    body = wait_until(finished, timeout=180, interval=0.2)

    assert body["status"] == "failed"
    assert "binary" in body["failure_reason"]
    assert body["analysis"] is None
