"""Send text messages through Tencent Cloud SMS (API 3.0, action SendSms).

Requests are signed with TC3-HMAC-SHA256 as the Tencent Cloud API page
"签名方法 v3" describes (https://cloud.tencent.com/document/product/215/36792,
section "TC3-HMAC-SHA256 签名方法"). The canonical request joins the method,
the URI "/", an empty query, the signed headers ``content-type``, ``host`` and
``x-tc-action`` (with lower-case values) and the SHA-256 of the body. Its
hash goes into a string to sign with the scope ``<date>/sms/tc3_request``.
The signing key is HMAC-SHA256 applied in turn from ``"TC3" + SecretKey``
over the UTC date, the service and ``tc3_request``.

Tencent Cloud returns errors with HTTP 200 and ``Response.Error``, and reports
each number's outcome in ``Response.SendStatusSet``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import datetime, timezone
from typing import Any

import httpx
from django.conf import settings

from integrations.http import ProviderRejectedError, ServiceClient, describe_rejection
from queueadmin.errors import RecoverableError, UnrecoverableError

logger = logging.getLogger(__name__)

SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host;x-tc-action"
#: Error code prefixes that a later attempt may get past.
RETRY_CODE_PREFIXES = ("InternalError", "RequestLimitExceeded")


def _hmac_sha256(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def build_authorization(
    *, secret_id: str, secret_key: str, host: str, action: str, timestamp: int, body: bytes
) -> str:
    """Return the ``Authorization`` header of a TC3-HMAC-SHA256 signed POST."""
    canonical_headers = (
        f"content-type:{CONTENT_TYPE}\nhost:{host}\nx-tc-action:{action.lower()}\n"
    )
    canonical_request = "\n".join(
        ["POST", "/", "", canonical_headers, SIGNED_HEADERS, hashlib.sha256(body).hexdigest()]
    )
    date = datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d")
    scope = f"{date}/{SERVICE}/tc3_request"
    string_to_sign = "\n".join(
        [ALGORITHM, str(timestamp), scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    secret_date = _hmac_sha256(f"TC3{secret_key}".encode(), date)
    secret_service = _hmac_sha256(secret_date, SERVICE)
    secret_signing = _hmac_sha256(secret_service, "tc3_request")
    signature = hmac.new(secret_signing, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"{ALGORITHM} Credential={secret_id}/{scope}, "
        f"SignedHeaders={SIGNED_HEADERS}, Signature={signature}"
    )


def is_configured() -> bool:
    """Return whether the SMS credentials, app and signature name are set."""
    return all(
        (
            settings.SMS_SECRET_ID,
            settings.SMS_SECRET_KEY,
            settings.SMS_SDK_APP_ID,
            settings.SMS_SIGN_NAME,
        )
    )


def get_template_id(template: str) -> str:
    """Return the template id of a name in ``SMS_TEMPLATES``.

    Raises:
      UnrecoverableError: the name is not configured.
    """
    try:
        return settings.SMS_TEMPLATES[template]
    except KeyError:
        known = ", ".join(sorted(settings.SMS_TEMPLATES)) or "none"
        raise UnrecoverableError(
            f"SMS template {template!r} is not in SMS_TEMPLATES; configured: {known}."
        ) from None


class TencentSmsClient(ServiceClient):
    """SendSms calls with the credentials and app from settings."""

    service = "Tencent Cloud SMS"

    def __init__(self, *, transport: httpx.BaseTransport | None = None) -> None:
        if not is_configured():
            raise UnrecoverableError(
                "SMS is not configured: set SMS_SECRET_ID, SMS_SECRET_KEY, "
                "SMS_SDK_APP_ID and SMS_SIGN_NAME."
            )
        super().__init__(settings.SMS_BASE_URL, transport=transport)

    def sign(self, request: httpx.Request) -> None:
        timestamp = int(time.time())
        request.headers["Authorization"] = build_authorization(
            secret_id=settings.SMS_SECRET_ID,
            secret_key=settings.SMS_SECRET_KEY,
            host=request.headers["Host"],
            action=ACTION,
            timestamp=timestamp,
            body=request.content,
        )
        request.headers["X-TC-Timestamp"] = str(timestamp)

    def send_sms(self, phone_number: str, template_id: str, params: list[str]) -> str:
        """Send one message and return its ``SerialNo``.

        Raises:
          RecoverableError: a timeout, a connection error, HTTP 429 or 5xx, or
            an ``InternalError`` or ``RequestLimitExceeded`` code.
          ProviderRejectedError: any other error code, for the request or the number.
        """
        body = json.dumps(
            {
                "PhoneNumberSet": [phone_number],
                "SmsSdkAppId": settings.SMS_SDK_APP_ID,
                "SignName": settings.SMS_SIGN_NAME,
                "TemplateId": template_id,
                "TemplateParamSet": params,
            },
            ensure_ascii=False,
        ).encode()
        headers = {
            "Content-Type": CONTENT_TYPE,
            "X-TC-Action": ACTION,
            "X-TC-Version": VERSION,
            "X-TC-Region": settings.SMS_REGION,
        }
        response = self.send("POST", "/", content=body, headers=headers)
        result = response.json().get("Response") or {}
        _raise_for_error(response.status_code, result.get("Error"))
        return _check_status(response.status_code, result.get("SendStatusSet") or [])


def _raise_for_error(status: int, error: dict[str, Any] | None) -> None:
    if not error:
        return
    code = str(error.get("Code", ""))
    message = str(error.get("Message", ""))
    if code.startswith(RETRY_CODE_PREFIXES):
        raise RecoverableError(describe_rejection("Tencent Cloud SMS", status, code, message))
    raise ProviderRejectedError("Tencent Cloud SMS", status, code, message)


def _check_status(status: int, send_status: list[dict[str, Any]]) -> str:
    if not send_status:
        raise UnrecoverableError("Tencent Cloud SMS returned no SendStatusSet.")
    outcome = send_status[0]
    code = str(outcome.get("Code", ""))
    if code != "Ok":
        raise ProviderRejectedError(
            "Tencent Cloud SMS", status, code, str(outcome.get("Message", ""))
        )
    return str(outcome.get("SerialNo", ""))
