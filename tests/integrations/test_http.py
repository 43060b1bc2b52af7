"""The shared HTTP base: timeouts and the mapping of replies to job errors."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from integrations.http import ProviderRejectedError, ServiceClient
from queueadmin.classify import parse_retry_after
from queueadmin.errors import RecoverableError

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120_000),
        ("0", 0),
        ("Fri, 01 May 2026 12:00:30 GMT", 30_000),
        ("Fri, 01 May 2026 11:00:00 GMT", 0),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_parsed(header, expected):
    assert parse_retry_after(header, now=NOW) == expected


class ExampleClient(ServiceClient):
    service = "Example"


def test_429_recoverable_with_retry_after(httpserver):
    httpserver.expect_request("/v1/items").respond_with_json(
        {"code": "Throttled", "message": "slow down"}, status=429, headers={"Retry-After": "7"}
    )

    with ExampleClient(httpserver.url_for("/")) as client:
        with pytest.raises(RecoverableError) as excinfo:
            client.send("GET", "/v1/items")

    assert excinfo.value.retry_after_ms == 7000
    assert "HTTP 429" in str(excinfo.value)
    assert "Throttled" in str(excinfo.value)


def test_5xx_recoverable(httpserver):
    httpserver.expect_request("/v1/items").respond_with_data("upstream down", status=502)

    with ExampleClient(httpserver.url_for("/")) as client:
        with pytest.raises(RecoverableError, match="HTTP 502"):
            client.send("GET", "/v1/items")


def test_4xx_rejected_with_provider_code(httpserver):
    httpserver.expect_request("/v1/items", method="POST", json={"name": "x"}).respond_with_json(
        {"code": "InvalidName", "message": "name is taken"}, status=409
    )

    with ExampleClient(httpserver.url_for("/")) as client:
        with pytest.raises(ProviderRejectedError) as excinfo:
            client.send("POST", "/v1/items", json={"name": "x"})

    assert excinfo.value.code == "InvalidName"
    assert excinfo.value.status == 409
    assert "name is taken" in str(excinfo.value)


def test_read_timeout_recoverable(httpserver, settings):
    settings.INTEGRATIONS_READ_TIMEOUT_SECONDS = 0.5

    def slow(request):
        import time

        time.sleep(1.5)
        from werkzeug import Response

        return Response("late")

    httpserver.expect_request("/slow").respond_with_handler(slow)

    with ExampleClient(httpserver.url_for("/")) as client:
        with pytest.raises(RecoverableError, match="timed out"):
            client.send("GET", "/slow")
