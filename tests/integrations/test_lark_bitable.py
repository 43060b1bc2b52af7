"""Lark Bitable client and the analysis sync against a local server."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from werkzeug import Request, Response

from integrations.http import ProviderRejectedError
from integrations.lark_bitable import LarkBitableClient
from integrations.lark_sync import sync_meeting_analysis
from integrations.models import ExternalSync, SyncStatus
from meetings.models import Analysis, Meeting
from meetings.signals import meeting_analysed
from queueadmin.errors import RecoverableError
from queueadmin.models import JobRecord

APP_TOKEN = "bascnTestAppToken"
TABLE_ID = "tblTestTable"
RECORDS = f"/open-apis/bitable/v1/apps/{APP_TOKEN}/tables/{TABLE_ID}/records"


class FakeLark:
    """Issues tenant tokens and stores records like the Bitable API."""

    def __init__(self) -> None:
        self.tokens_issued = 0
        self.valid_tokens: set[str] = set()
        self.records: dict[str, dict] = {}
        self.records_created = 0
        self.calls: list[tuple[str, str, object]] = []
        self.fail_next: list[Response] = []

    def token(self, request: Request) -> Response:
        body = request.get_json()
        if request.headers.get("Content-Type") != "application/json; charset=utf-8":
            return _json({"code": 99991400, "msg": "bad content type"}, 400)
        if body != {"app_id": "cli_test", "app_secret": "lark-secret"}:
            return _json({"code": 10014, "msg": "app secret invalid"}, 400)
        self.tokens_issued += 1
        token = f"t-token-{self.tokens_issued}"
        self.valid_tokens.add(token)
        return _json({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": 7200})

    def records_api(self, request: Request) -> Response:
        self.calls.append((request.method, request.path, request.get_json(silent=True)))
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.valid_tokens:
            return _json({"code": 99991663, "msg": "Invalid access token for authorization."}, 400)
        if self.fail_next:
            return self.fail_next.pop(0)

        action = request.path.removeprefix(RECORDS).strip("/")
        body = request.get_json(silent=True) or {}
        if request.method == "POST" and action == "":
            return _json({"code": 0, "data": {"record": {"record_id": self._add(body["fields"])}}})
        if request.method == "POST" and action == "batch_create":
            ids = [self._add(item["fields"]) for item in body["records"]]
            return _json({"code": 0, "data": {"records": [{"record_id": i} for i in ids]}})
        if request.method == "POST" and action == "batch_update":
            for item in body["records"]:
                self.records[item["record_id"]].update(item["fields"])
            return _json({"code": 0, "data": {"records": body["records"]}})
        if request.method == "POST" and action == "batch_delete":
            for record_id in body["records"]:
                del self.records[record_id]
            return _json({"code": 0, "data": {"records": []}})

        if action not in self.records:
            return _json({"code": 1254043, "msg": "RecordIdNotFound"}, 400)
        if request.method == "PUT":
            self.records[action].update(body["fields"])
            return _json({"code": 0, "data": {"record": {"record_id": action}}})
        if request.method == "DELETE":
            del self.records[action]
            return _json({"code": 0, "data": {"deleted": True, "record_id": action}})
        return _json({"code": 1254000, "msg": "WrongRequestBody"}, 400)

    def _add(self, fields: dict) -> str:
        self.records_created += 1
        record_id = f"rec{self.records_created:05d}"
        self.records[record_id] = dict(fields)
        return record_id


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


@pytest.fixture
def lark(httpserver, settings):
    settings.LARK_BASE_URL = httpserver.url_for("/").rstrip("/")
    settings.LARK_APP_ID = "cli_test"
    settings.LARK_APP_SECRET = "lark-secret"
    settings.LARK_BITABLE_APP_TOKEN = APP_TOKEN
    settings.LARK_BITABLE_TABLE_ID = TABLE_ID
    cache.clear()
    fake = FakeLark()
    httpserver.expect_request(
        "/open-apis/auth/v3/tenant_access_token/internal", method="POST"
    ).respond_with_handler(fake.token)
    httpserver.expect_request(RECORDS).respond_with_handler(fake.records_api)
    import re

    httpserver.expect_request(re.compile(f"^{RECORDS}/.+")).respond_with_handler(fake.records_api)
    yield fake
    cache.clear()


def test_token_fetched_once_and_reused(lark):
    with LarkBitableClient() as client:
        first = client.create_record({"Title": "A"})
        second = client.create_record({"Title": "B"})

    assert lark.tokens_issued == 1
    assert lark.records == {first: {"Title": "A"}, second: {"Title": "B"}}


def test_rejected_token_replaced_once(lark):
    with LarkBitableClient() as client:
        client.create_record({"Title": "A"})
        lark.valid_tokens.clear()
        client.create_record({"Title": "B"})

    assert lark.tokens_issued == 2
    assert len(lark.records) == 2


def test_update_and_delete_record(lark):
    with LarkBitableClient() as client:
        record_id = client.create_record({"Title": "Draft", "Word count": 1})
        client.update_record(record_id, {"Title": "Final"})
        assert lark.records[record_id] == {"Title": "Final", "Word count": 1}
        client.delete_record(record_id)

    assert lark.records == {}
    assert [call[0] for call in lark.calls] == ["POST", "PUT", "DELETE"]


def test_batch_endpoints_split_at_500(lark):
    rows = [{"Title": f"Row {index}"} for index in range(1201)]

    with LarkBitableClient() as client:
        record_ids = client.batch_create_records(rows)
        client.batch_update_records([(record_id, {"Done": True}) for record_id in record_ids])
        client.batch_delete_records(record_ids[:600])

    batch_sizes = [(call[1].rsplit("/", 1)[-1], len(call[2]["records"])) for call in lark.calls]
    assert batch_sizes == [
        ("batch_create", 500), ("batch_create", 500), ("batch_create", 201),
        ("batch_update", 500), ("batch_update", 500), ("batch_update", 201),
        ("batch_delete", 500), ("batch_delete", 100),
    ]
    assert len(record_ids) == 1201
    assert len(lark.records) == 601
    assert all(fields["Done"] for fields in lark.records.values())


def test_rejection_carries_lark_code(lark):
    lark.fail_next.append(_json({"code": 1254045, "msg": "FieldNameNotFound"}, 400))

    with LarkBitableClient() as client:
        with pytest.raises(ProviderRejectedError) as excinfo:
            client.create_record({"Nope": 1})

    assert excinfo.value.code == "1254045"
    assert "FieldNameNotFound" in str(excinfo.value)


def test_429_and_5xx_recoverable(lark):
    lark.fail_next.append(Response("slow down", status=429, headers={"Retry-After": "3"}))
    lark.fail_next.append(Response("oops", status=500))

    with LarkBitableClient() as client:
        with pytest.raises(RecoverableError) as excinfo:
            client.create_record({"Title": "A"})
        assert excinfo.value.retry_after_ms == 3000
        with pytest.raises(RecoverableError, match="HTTP 500"):
            client.create_record({"Title": "A"})


def _analysed_meeting() -> Meeting:
    meeting = Meeting.objects.create(title="Roadmap")
    Analysis.objects.create(
        meeting=meeting,
        data={
            "speakers": [{"speaker": "Alice"}, {"speaker": "Bob"}],
            "keywords": [{"word": "roadmap", "count": 4}, {"word": "budget", "count": 2}],
        },
        word_count=321,
        sentiment=0.25,
    )
    return meeting


@pytest.mark.django_db
def test_analysis_synced_then_updated(lark):
    meeting = _analysed_meeting()

    record_id = sync_meeting_analysis(meeting.pk)
    Analysis.objects.filter(meeting=meeting).update(word_count=400)
    again = sync_meeting_analysis(meeting.pk)

    assert again == record_id
    assert lark.records[record_id] == {
        "Meeting ID": str(meeting.pk),
        "Title": "Roadmap",
        "Word count": 400,
        "Sentiment": 0.25,
        "Speakers": "Alice, Bob",
        "Keywords": "roadmap, budget",
    }
    state = ExternalSync.objects.get(meeting=meeting)
    assert state.status == SyncStatus.SYNCED
    assert state.external_id == record_id


@pytest.mark.django_db
def test_row_deleted_in_lark_created_again(lark):
    meeting = _analysed_meeting()
    record_id = sync_meeting_analysis(meeting.pk)
    del lark.records[record_id]

    new_id = sync_meeting_analysis(meeting.pk)

    assert new_id != record_id
    assert new_id in lark.records
    assert ExternalSync.objects.get(meeting=meeting).external_id == new_id


@pytest.mark.django_db
def test_workflow_enqueues_sync_when_configured(lark, broker, django_capture_on_commit_callbacks):
    meeting = _analysed_meeting()

    with django_capture_on_commit_callbacks(execute=True):
        meeting_analysed.send(sender=Meeting, meeting_id=meeting.pk)

    record = JobRecord.objects.get(actor="sync_lark_bitable")
    assert record.payload == {"meeting_id": meeting.pk}
    assert not ExternalSync.objects.filter(meeting=meeting).exists()


@pytest.mark.django_db
def test_workflow_records_skip_when_not_configured(
    settings, broker, django_capture_on_commit_callbacks
):
    settings.LARK_APP_ID = ""
    meeting = _analysed_meeting()

    with django_capture_on_commit_callbacks(execute=True):
        meeting_analysed.send(sender=Meeting, meeting_id=meeting.pk)

    state = ExternalSync.objects.get(meeting=meeting, target="lark_bitable")
    assert state.status == SyncStatus.SKIPPED
    assert "not configured" in state.detail
    assert not JobRecord.objects.filter(actor="sync_lark_bitable").exists()


@pytest.mark.django_db(transaction=True)
def test_workflow_syncs_analysis_through_worker(worker_factory, lark, httpserver):
    from meetings.services import submit_transcript

    worker_factory(
        threads=2,
        LARK_BASE_URL=httpserver.url_for("/").rstrip("/"),
        LARK_APP_ID="cli_test",
        LARK_APP_SECRET="lark-secret",
        LARK_BITABLE_APP_TOKEN=APP_TOKEN,
        LARK_BITABLE_TABLE_ID=TABLE_ID,
    )
    transcript = b"Alice: The roadmap needs a budget.\nBob: The budget is ready for the roadmap.\n"

    submission = submit_transcript(content=transcript, filename="plan.txt", title="Planning")

    from tests.helpers import wait_until

    state = wait_until(
        lambda: ExternalSync.objects.filter(
            meeting=submission.meeting, status=SyncStatus.SYNCED
        ).first(),
        timeout=90,
    )
    fields = lark.records[state.external_id]
    assert fields["Title"] == "Planning"
    assert fields["Meeting ID"] == str(submission.meeting.pk)
    assert sorted(fields["Speakers"].split(", ")) == ["Alice", "Bob"]
    assert fields["Word count"] > 0
    assert lark.tokens_issued == 1


def test_app_secret_and_token_not_logged(lark, caplog):
    caplog.set_level("DEBUG")

    with LarkBitableClient() as client:
        client.create_record({"Title": "A"})

    assert caplog.records
    assert "lark-secret" not in caplog.text
    assert "t-token-1" not in caplog.text
