"""A client of the Lark (Feishu) Bitable records API, as a custom app.

The app authenticates with a ``tenant_access_token`` from
``POST /open-apis/auth/v3/tenant_access_token/internal``, which lives
``expire`` seconds (at most 2 hours). The token is kept in Django's default
cache until ``TOKEN_REFRESH_MARGIN_SECONDS`` before it expires. Lark returns
most errors with a JSON body ``{"code": <non-zero>, "msg": ...}``, sometimes
with HTTP 200.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
from django.conf import settings
from django.core.cache import cache

from integrations.http import (
    ProviderRejectedError,
    ServiceClient,
    describe_rejection,
    raise_for_response,
)
from queueadmin.errors import RecoverableError, UnrecoverableError

logger = logging.getLogger(__name__)

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
TOKEN_REFRESH_MARGIN_SECONDS = 300
#: The batch endpoints take at most 500 records per request.
BATCH_SIZE = 500
#: Lark codes of an invalid or expired access token; a fresh token may succeed.
TOKEN_ERROR_CODES = {"99991661", "99991663", "99991668"}
#: Lark codes that ask the caller to slow down or try again later.
# NOTE: taken from Lark's error code lists as remembered (rate limit, Bitable
# "TooManyRequest", "Write conflict", "request timeout"); not checked against
# the current documentation.
RETRY_ERROR_CODES = {"99991400", "1254290", "1254291", "1255040"}


def is_configured() -> bool:
    """Return whether the Lark app and the Bitable table are set in settings."""
    return all(
        (
            settings.LARK_APP_ID,
            settings.LARK_APP_SECRET,
            settings.LARK_BITABLE_APP_TOKEN,
            settings.LARK_BITABLE_TABLE_ID,
        )
    )


def _token_cache_key() -> str:
    app = hashlib.sha256(f"{settings.LARK_BASE_URL}|{settings.LARK_APP_ID}".encode()).hexdigest()
    return f"integrations:lark:tenant_access_token:{app[:16]}"


def _chunks(items: Sequence[Any], size: int = BATCH_SIZE) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class LarkBitableClient(ServiceClient):
    """Records of the Bitable table named by ``LARK_BITABLE_APP_TOKEN`` and ``..._TABLE_ID``."""

    service = "Lark"

    def __init__(self, *, transport: httpx.BaseTransport | None = None) -> None:
        if not is_configured():
            raise UnrecoverableError(
                "Lark Bitable is not configured: set LARK_APP_ID, LARK_APP_SECRET, "
                "LARK_BITABLE_APP_TOKEN and LARK_BITABLE_TABLE_ID."
            )
        super().__init__(settings.LARK_BASE_URL, transport=transport)
        self.records_path = (
            f"/open-apis/bitable/v1/apps/{settings.LARK_BITABLE_APP_TOKEN}"
            f"/tables/{settings.LARK_BITABLE_TABLE_ID}/records"
        )

    def get_tenant_access_token(self) -> str:
        """Return the cached token, or fetch and cache a new one."""
        token = cache.get(_token_cache_key())
        if token:
            return token
        body = self._call(
            "POST",
            TOKEN_PATH,
            json={"app_id": settings.LARK_APP_ID, "app_secret": settings.LARK_APP_SECRET},
            authenticated=False,
        )
        token = body["tenant_access_token"]
        lifetime = int(body.get("expire") or 0) - TOKEN_REFRESH_MARGIN_SECONDS
        if lifetime > 0:
            cache.set(_token_cache_key(), token, timeout=lifetime)
        logger.info("Fetched a Lark tenant access token valid for %s s.", body.get("expire"))
        return token

    def parse_error(self, response: httpx.Response) -> tuple[str, str]:
        try:
            body = response.json()
        except ValueError:
            return str(response.status_code), response.text[:500]
        return str(body.get("code", response.status_code)), str(body.get("msg", ""))

    def _call(
        self, method: str, path: str, *, json: Any = None, authenticated: bool = True
    ) -> dict[str, Any]:
        """Send one request and return its body, fetching a new token once if rejected.

        Raises:
          RecoverableError: a timeout, a connection error, HTTP 429 or 5xx, or a
            Lark code in ``RETRY_ERROR_CODES``.
          UnrecoverableError: any other non-zero Lark code.
        """
        for attempt in (1, 2):
            headers = {"Content-Type": "application/json; charset=utf-8"}
            if authenticated:
                headers["Authorization"] = f"Bearer {self.get_tenant_access_token()}"
            response = self.send(method, path, json=json, headers=headers, check_status=False)
            if response.status_code == 429 or response.status_code >= 500:
                raise_for_response(self.service, response, self.parse_error)

            code, message = self.parse_error(response)
            if code == "0" and response.status_code < 400:
                return response.json()
            if authenticated and attempt == 1 and code in TOKEN_ERROR_CODES:
                logger.info(
                    "Lark rejected the cached tenant access token (%s); fetching another.", code
                )
                cache.delete(_token_cache_key())
                continue
            _raise_for_code(response.status_code, code, message)
        raise UnrecoverableError("Lark rejected a freshly fetched tenant access token.")

    def create_record(self, fields: dict[str, Any]) -> str:
        """Create one record and return its ``record_id``."""
        body = self._call("POST", self.records_path, json={"fields": fields})
        return body["data"]["record"]["record_id"]

    def update_record(self, record_id: str, fields: dict[str, Any]) -> None:
        """Replace the given fields of one record."""
        self._call("PUT", f"{self.records_path}/{record_id}", json={"fields": fields})

    def delete_record(self, record_id: str) -> None:
        self._call("DELETE", f"{self.records_path}/{record_id}")

    def batch_create_records(self, rows: Sequence[dict[str, Any]]) -> list[str]:
        """Create records in batches of ``BATCH_SIZE``; return their ids in order.

        A failure in a later batch leaves the earlier batches created.
        """
        record_ids: list[str] = []
        for chunk in _chunks(rows):
            records = [{"fields": fields} for fields in chunk]
            path = f"{self.records_path}/batch_create"
            body = self._call("POST", path, json={"records": records})
            record_ids.extend(record["record_id"] for record in body["data"]["records"])
        return record_ids

    def batch_update_records(self, updates: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Update ``(record_id, fields)`` pairs in batches of ``BATCH_SIZE``."""
        for chunk in _chunks(updates):
            records = [{"record_id": record_id, "fields": fields} for record_id, fields in chunk]
            self._call("POST", f"{self.records_path}/batch_update", json={"records": records})

    def batch_delete_records(self, record_ids: Sequence[str]) -> None:
        """Delete records in batches of ``BATCH_SIZE``."""
        for chunk in _chunks(record_ids):
            self._call("POST", f"{self.records_path}/batch_delete", json={"records": list(chunk)})


def _raise_for_code(status: int, code: str, message: str) -> None:
    if code in RETRY_ERROR_CODES:
        raise RecoverableError(describe_rejection("Lark", status, code, message))
    raise ProviderRejectedError("Lark", status, code, message)
