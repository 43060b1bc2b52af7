"""The HTTP base of the integration clients: timeouts and error classes.

Every client sends its requests through ``ServiceClient.send``, which applies
the connect and read timeouts from settings and turns failures into the job
errors: a timeout, a connection error, a 429 or a 5xx reply becomes a
``RecoverableError`` (with ``Retry-After`` as the retry delay), and any other
4xx reply an ``UnrecoverableError`` that carries the provider's error code
and message. Request headers and bodies are never logged, because they carry
credentials.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import httpx
from django.conf import settings

from queueadmin.classify import parse_retry_after
from queueadmin.errors import RecoverableError, UnrecoverableError

logger = logging.getLogger(__name__)

#: Returns ``(code, message)`` from a provider's error body.
ErrorParser = Callable[[httpx.Response], tuple[str, str]]


def get_timeout() -> httpx.Timeout:
    """Return the timeout of every integration call, from settings."""
    return httpx.Timeout(
        connect=settings.INTEGRATIONS_CONNECT_TIMEOUT_SECONDS,
        read=settings.INTEGRATIONS_READ_TIMEOUT_SECONDS,
        write=settings.INTEGRATIONS_READ_TIMEOUT_SECONDS,
        pool=settings.INTEGRATIONS_CONNECT_TIMEOUT_SECONDS,
    )


def default_error_parser(response: httpx.Response) -> tuple[str, str]:
    """Return ``(code, message)`` from a JSON body with ``code`` and ``message`` keys."""
    try:
        body = response.json()
    except ValueError:
        return str(response.status_code), response.text[:500]
    if not isinstance(body, dict):
        return str(response.status_code), str(body)[:500]
    code = body.get("code", response.status_code)
    message = body.get("message") or body.get("msg") or ""
    return str(code), str(message)


class ProviderRejectedError(UnrecoverableError):
    """Raised when a provider rejects a request for good (a 4xx or an error code).

    ``code`` is the provider's error code, or the HTTP status when it gave none.
    """

    def __init__(self, service: str, status: int, code: str, message: str) -> None:
        super().__init__(describe_rejection(service, status, code, message))
        self.service = service
        self.status = status
        self.code = code


def describe_rejection(service: str, status: int, code: str, message: str) -> str:
    """Return the text of a provider's rejection, for recoverable errors too."""
    return f"{service} rejected the request (HTTP {status}, error code {code}): {message}"


def raise_for_response(
    service: str, response: httpx.Response, parse_error: ErrorParser = default_error_parser
) -> None:
    """Raise the job error that ``response`` calls for; return for a 2xx or 3xx.

    Raises:
      RecoverableError: HTTP 429 or 5xx, with ``retry_after_ms`` from ``Retry-After``.
      ProviderRejectedError: any other 4xx, with the provider's code and message.
    """
    status = response.status_code
    if status < 400:
        return
    code, message = parse_error(response)
    if status == 429 or status >= 500:
        retry_after_ms = parse_retry_after(response.headers.get("Retry-After"))
        raise RecoverableError(
            describe_rejection(service, status, code, message), retry_after_ms=retry_after_ms
        )
    raise ProviderRejectedError(service, status, code, message)


class ServiceClient:
    """An ``httpx.Client`` for one service's base URL, with the job error mapping.

    Subclasses set ``service`` (a name for messages and logs) and may override
    ``parse_error`` and ``sign``. Use it as a context manager, or call ``close``.
    """

    service = "service"

    def __init__(self, base_url: str, *, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.base_url, timeout=get_timeout(), transport=transport
        )

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def parse_error(self, response: httpx.Response) -> tuple[str, str]:
        return default_error_parser(response)

    def sign(self, request: httpx.Request) -> None:
        """Add authentication headers to ``request``; the base adds none."""

    def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        check_status: bool = True,
    ) -> httpx.Response:
        """Sign and send one request and return its response.

        With ``check_status`` false, the caller classifies 4xx and 5xx replies.

        Raises:
          RecoverableError: a timeout, a connection error, HTTP 429 or 5xx.
          ProviderRejectedError: another 4xx reply, when ``check_status`` is true.
        """
        request = self.http.build_request(
            method, path, params=params, json=json, content=content, headers=headers
        )
        self.sign(request)
        try:
            response = self.http.send(request)
        except httpx.TimeoutException as exc:
            raise RecoverableError(
                f"{self.service}: {method} {request.url.path} timed out ({type(exc).__name__})."
            ) from exc
        except httpx.TransportError as exc:
            raise RecoverableError(
                f"{self.service}: {method} {request.url.path} failed: {exc}"
            ) from exc
        logger.debug(
            "%s %s %s returned HTTP %d.",
            self.service,
            method,
            request.url.path,
            response.status_code,
        )
        if check_status:
            raise_for_response(self.service, response, self.parse_error)
        return response
