"""A client of the Tencent Meeting REST API for recordings and their transcripts.

Requests are signed as the documentation's "企业自建应用鉴权 (AK/SK)" page
describes (https://cloud.tencent.com/document/product/1095/42413, section
"生成签名串"): the string to sign is the HTTP method, the header string
``X-TC-Key=<SecretId>&X-TC-Nonce=<nonce>&X-TC-Timestamp=<seconds>``, the URI
with its query string and the body, joined by "\\n". The signature is the
lower-case hex HMAC-SHA256 of that string under the SecretKey, encoded again
in Base64, and goes in ``X-TC-Signature``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
from django.conf import settings

from integrations.http import ServiceClient
from queueadmin.errors import UnrecoverableError

#: The documented maximum page size of the record list.
RECORDS_PAGE_SIZE = 20
#: The documented maximum page size of the record address list.
ADDRESSES_PAGE_SIZE = 50
#: The record list rejects periods longer than 31 days.
MAX_PERIOD_SECONDS = 31 * 86400
#: ``state`` of a record whose transcoding is complete and whose files are listed.
RECORD_STATE_READY = 3


def build_string_to_sign(
    method: str, secret_id: str, nonce: str, timestamp: str, uri: str, body: str
) -> str:
    """Return the string that Tencent Meeting signs for one request."""
    headers = f"X-TC-Key={secret_id}&X-TC-Nonce={nonce}&X-TC-Timestamp={timestamp}"
    return f"{method.upper()}\n{headers}\n{uri}\n{body}"


def compute_signature(secret_key: str, string_to_sign: str) -> str:
    """Return Base64 of the hex HMAC-SHA256 of ``string_to_sign``."""
    digest = hmac.new(
        secret_key.encode(), string_to_sign.encode(), hashlib.sha256
    ).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def is_configured() -> bool:
    """Return whether the Tencent Meeting credentials are set."""
    return all(
        (
            settings.TENCENT_MEETING_APP_ID,
            settings.TENCENT_MEETING_SECRET_ID,
            settings.TENCENT_MEETING_SECRET_KEY,
            settings.TENCENT_MEETING_OPERATOR_ID,
        )
    )


class TencentMeetingClient(ServiceClient):
    """Signed calls to the Tencent Meeting REST API, with settings' credentials."""

    service = "Tencent Meeting"

    def __init__(self, *, transport: httpx.BaseTransport | None = None) -> None:
        if not is_configured():
            raise UnrecoverableError(
                "Tencent Meeting is not configured: set TENCENT_MEETING_APP_ID, "
                "TENCENT_MEETING_SECRET_ID, TENCENT_MEETING_SECRET_KEY and "
                "TENCENT_MEETING_OPERATOR_ID."
            )
        super().__init__(settings.TENCENT_MEETING_BASE_URL, transport=transport)
        self.operator_id = settings.TENCENT_MEETING_OPERATOR_ID

    def sign(self, request: httpx.Request) -> None:
        nonce = str(secrets.randbelow(10**9) + 1)
        timestamp = str(int(time.time()))
        string_to_sign = build_string_to_sign(
            request.method,
            settings.TENCENT_MEETING_SECRET_ID,
            nonce,
            timestamp,
            request.url.raw_path.decode("ascii"),
            request.content.decode("utf-8"),
        )
        request.headers.update(
            {
                "Content-Type": "application/json",
                "X-TC-Key": settings.TENCENT_MEETING_SECRET_ID,
                "X-TC-Timestamp": timestamp,
                "X-TC-Nonce": nonce,
                "X-TC-Signature": compute_signature(
                    settings.TENCENT_MEETING_SECRET_KEY, string_to_sign
                ),
                "AppId": settings.TENCENT_MEETING_APP_ID,
                "X-TC-Registered": "1",
            }
        )
        if settings.TENCENT_MEETING_SDK_ID:
            request.headers["SdkId"] = settings.TENCENT_MEETING_SDK_ID

    def parse_error(self, response: httpx.Response) -> tuple[str, str]:
        """Return the code and message of an ``{"error_info": {...}}`` body."""
        try:
            info = response.json().get("error_info") or {}
        except (ValueError, AttributeError):
            return str(response.status_code), response.text[:500]
        code = info.get("new_error_code") or info.get("error_code") or response.status_code
        return str(code), str(info.get("message", ""))

    def _operator(self) -> dict[str, Any]:
        return {"operator_id": self.operator_id, "operator_id_type": 1}

    def iter_record_meetings(self, start: int, end: int) -> Iterator[dict[str, Any]]:
        """Yield each ``RecordMeetings`` object of the corporation in ``[start, end]``.

        ``start`` and ``end`` are UNIX seconds at most 31 days apart; every page
        of ``GET /v1/corp/records`` is read.
        """
        if end - start > MAX_PERIOD_SECONDS:
            raise UnrecoverableError(
                f"The period {start}..{end} is longer than 31 days, which Tencent "
                "Meeting rejects; split it."
            )
        page = 1
        while True:
            params = {
                "start_time": start,
                "end_time": end,
                "page_size": RECORDS_PAGE_SIZE,
                "page": page,
                **self._operator(),
            }
            body = self.send("GET", "/v1/corp/records", params=params).json()
            yield from body.get("record_meetings") or []
            if page >= int(body.get("total_page") or 0):
                return
            page += 1

    def get_record_files(self, meeting_record_id: str) -> list[dict[str, Any]]:
        """Return the record files with download addresses, from ``GET /v1/addresses``."""
        files: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {
                "meeting_record_id": meeting_record_id,
                "page_size": ADDRESSES_PAGE_SIZE,
                "page": page,
                **self._operator(),
            }
            body = self.send("GET", "/v1/addresses", params=params).json()
            files.extend(body.get("record_files") or [])
            if page >= int(body.get("total_page") or 1):
                return files
            page += 1

    def get_transcript(self, meeting_id: str, record_file_id: str) -> dict[str, Any]:
        """Return the ``minutes`` object of ``GET /v1/records/transcripts/details``."""
        # NOTE: applications created after 2026-01-16 must also send an STS-Token
        # header for this endpoint, according to its documentation; not sent yet.
        params = {"meeting_id": meeting_id, "record_file_id": record_file_id, **self._operator()}
        body = self.send("GET", "/v1/records/transcripts/details", params=params).json()
        return body.get("minutes") or {}


def transcript_to_text(minutes: dict[str, Any]) -> str:
    """Return a transcript's paragraphs as ``Speaker: text`` lines."""
    lines = []
    for paragraph in minutes.get("paragraphs") or []:
        speaker_info = paragraph.get("speaker_info") or {}
        speaker = speaker_info.get("username") or speaker_info.get("userid") or "Unknown"
        words = [
            word.get("text", "")
            for sentence in paragraph.get("sentences") or []
            for word in sentence.get("words") or []
        ]
        # NOTE: words are joined as given. The documentation's examples are Chinese,
        # where words carry no spaces; English spacing in real replies is unverified.
        text = "".join(words).strip()
        if text:
            lines.append(f"{speaker}: {text}")
    return "\n".join(lines)
