"""Tencent Cloud SMS against a local server that verifies TC3-HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime, timezone

import pytest
from werkzeug import Request, Response

from integrations import services
from integrations.http import ProviderRejectedError
from integrations.sms import TencentSmsClient
from queueadmin.errors import InvalidPayloadError, RecoverableError
from queueadmin.models import JobRecord, JobStatus
from tests.helpers import wait_until

SECRET_ID = "AKIDsmstest"
SECRET_KEY = "sms-secret-key"


def _sign(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_authorization(request: Request) -> str:
    """Recompute the Authorization header as "签名方法 v3" specifies."""
    timestamp = int(request.headers["X-TC-Timestamp"])
    date = datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d")
    canonical_headers = (
        f"content-type:{request.headers['Content-Type']}\n"
        f"host:{request.headers['Host']}\n"
        f"x-tc-action:{request.headers['X-TC-Action'].lower()}\n"
    )
    canonical_request = (
        f"POST\n/\n\n{canonical_headers}\ncontent-type;host;x-tc-action\n"
        + hashlib.sha256(request.get_data()).hexdigest()
    )
    scope = f"{date}/sms/tc3_request"
    string_to_sign = (
        f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n"
        + hashlib.sha256(canonical_request.encode()).hexdigest()
    )
    key = _sign(_sign(_sign(("TC3" + SECRET_KEY).encode(), date), "sms"), "tc3_request")
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{scope}, "
        f"SignedHeaders=content-type;host;x-tc-action, Signature={signature}"
    )


class FakeSms:
    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.replies: list[dict] = []

    def __call__(self, request: Request) -> Response:
        error = self._check(request)
        if error:
            return _reply({"Error": {"Code": error[0], "Message": error[1]}})
        body = json.loads(request.get_data())
        self.bodies.append(body)
        if self.replies:
            return _reply(self.replies.pop(0))
        status = {
            "SerialNo": "2640:1234567890",
            "PhoneNumber": body["PhoneNumberSet"][0],
            "Code": "Ok",
            "Message": "send success",
        }
        return _reply({"SendStatusSet": [status]})

    def _check(self, request: Request) -> tuple[str, str] | None:
        headers = request.headers
        if headers.get("Content-Type") != "application/json; charset=utf-8":
            return ("InvalidParameter", "content type")
        if headers.get("X-TC-Action") != "SendSms" or headers.get("X-TC-Version") != "2021-01-11":
            return ("InvalidAction", "action or version")
        if headers.get("X-TC-Region") != "ap-guangzhou":
            return ("InvalidParameter", "region")
        if abs(int(headers["X-TC-Timestamp"]) - time.time()) > 300:
            return ("AuthFailure.SignatureExpire", "expired")
        if headers.get("Authorization") != expected_authorization(request):
            message = "The provided credentials could not be validated."
            return ("AuthFailure.SignatureFailure", message)
        return None


def _reply(response: dict) -> Response:
    body = {"Response": {**response, "RequestId": "a0aabda6-cf91-4f3e-a2b8-000000000000"}}
    return Response(json.dumps(body), content_type="application/json")


@pytest.fixture
def sms_server(httpserver, settings):
    settings.SMS_BASE_URL = httpserver.url_for("/").rstrip("/")
    settings.SMS_SECRET_ID = SECRET_ID
    settings.SMS_SECRET_KEY = SECRET_KEY
    settings.SMS_SDK_APP_ID = "1400000001"
    settings.SMS_SIGN_NAME = "Meetingflow"
    settings.SMS_TEMPLATES = {"verification": "1234567"}
    fake = FakeSms()
    httpserver.expect_request("/", method="POST").respond_with_handler(fake)
    return fake


def test_send_sms_signed_and_accepted(sms_server):
    with TencentSmsClient() as client:
        serial_no = client.send_sms("+8613800000000", "1234567", ["482913", "5"])

    assert serial_no == "2640:1234567890"
    assert sms_server.bodies == [
        {
            "PhoneNumberSet": ["+8613800000000"],
            "SmsSdkAppId": "1400000001",
            "SignName": "Meetingflow",
            "TemplateId": "1234567",
            "TemplateParamSet": ["482913", "5"],
        }
    ]


def test_wrong_key_rejected_with_code(sms_server, settings):
    settings.SMS_SECRET_KEY = "wrong"

    with TencentSmsClient() as client:
        with pytest.raises(ProviderRejectedError) as excinfo:
            client.send_sms("+8613800000000", "1234567", [])

    assert excinfo.value.code == "AuthFailure.SignatureFailure"
    assert "wrong" not in str(excinfo.value)


def test_number_outcome_checked(sms_server):
    sms_server.replies.append(
        {
            "SendStatusSet": [
                {"Code": "InvalidParameterValue.IncorrectPhoneNumber", "Message": "bad"}
            ]
        }
    )

    with TencentSmsClient() as client:
        with pytest.raises(ProviderRejectedError) as excinfo:
            client.send_sms("+8613800000000", "1234567", [])

    assert excinfo.value.code == "InvalidParameterValue.IncorrectPhoneNumber"


def test_rate_limit_recoverable(sms_server):
    sms_server.replies.append({"Error": {"Code": "RequestLimitExceeded", "Message": "slow"}})

    with TencentSmsClient() as client:
        with pytest.raises(RecoverableError, match="RequestLimitExceeded"):
            client.send_sms("+8613800000000", "1234567", [])


@pytest.mark.parametrize(
    "number", ["13800000000", "+08613800000000", "+86 138 0000 0000", "+1234567890123456"]
)
def test_non_e164_number_rejected_at_enqueue(number, sms_server):
    with pytest.raises(InvalidPayloadError, match="phone_number"):
        services.send_sms(number, "verification", ["1"])


def test_unknown_template_rejected_at_enqueue(sms_server):
    with pytest.raises(InvalidPayloadError, match="template"):
        services.send_sms("+8613800000000", "welcome", [])


@pytest.mark.django_db(transaction=True)
def test_send_sms_job_through_worker(worker_factory, sms_server, httpserver):
    worker_factory(
        ["external_api"],
        SMS_BASE_URL=httpserver.url_for("/").rstrip("/"),
        SMS_SECRET_ID=SECRET_ID,
        SMS_SECRET_KEY=SECRET_KEY,
        SMS_SDK_APP_ID="1400000001",
        SMS_SIGN_NAME="Meetingflow",
        SMS_TEMPLATES="verification=1234567",
    )

    job_id = services.send_sms("+8613800000000", "verification", ["482913"])

    record = wait_until(
        lambda: JobRecord.objects.filter(job_id=job_id, status=JobStatus.SUCCEEDED).first(),
        timeout=60,
    )
    assert record.result_summary == "'2640:1234567890'"
    assert sms_server.bodies[0]["TemplateParamSet"] == ["482913"]


def test_secrets_not_logged(sms_server, settings, caplog):
    caplog.set_level("DEBUG")

    with TencentSmsClient() as client:
        client.send_sms("+8613800000000", "1234567", ["482913"])
        settings.SMS_SECRET_KEY = "another-secret-key"
        with pytest.raises(ProviderRejectedError):
            client.send_sms("+8613800000000", "1234567", ["482913"])

    assert caplog.records
    assert SECRET_KEY not in caplog.text
    assert "another-secret-key" not in caplog.text
    assert "Authorization" not in caplog.text
