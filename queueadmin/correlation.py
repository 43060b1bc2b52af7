"""HTTP middleware that gives each request a correlation id.

The id comes from the ``X-Correlation-ID`` request header when it is valid,
else a new one is made. It is returned in the response header of the same
name, and jobs enqueued while the request runs carry it (``send_job`` reads
it through ``queueadmin.context.get_correlation_id``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from queueadmin.context import current_correlation_id, new_correlation_id

HEADER = "X-Correlation-ID"
#: Accepted header values: the characters of UUIDs and common trace ids, up to 128.
VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def correlation_id_from(request: HttpRequest) -> str:
    """Return the request's valid ``X-Correlation-ID`` or a new id."""
    value = request.headers.get(HEADER, "").strip()
    return value if VALID_ID.match(value) else new_correlation_id()


class CorrelationIdMiddleware:
    """Bind the correlation id to the request's context and echo it in the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        correlation_id = correlation_id_from(request)
        request.correlation_id = correlation_id
        token = current_correlation_id.set(correlation_id)
        try:
            response = self.get_response(request)
        finally:
            current_correlation_id.reset(token)
        response[HEADER] = correlation_id
        return response
