"""Authentication of every queue administration route and of the API docs."""

from __future__ import annotations

import pytest

from queueadmin.models import ApiToken, AuditEntry
from queueadmin.pausing import get_paused_queues
from tests.queueadmin.conftest import API, bearer, csrf_header

pytestmark = pytest.mark.django_db(transaction=True)

READ_ROUTES = [
    ("get", f"{API}/health"),
    ("get", f"{API}/metrics"),
    ("get", f"{API}/jobs"),
    ("get", f"{API}/jobs/unknown-job"),
    ("get", f"{API}/dead-letters"),
    ("get", f"{API}/schedules"),
    ("get", f"{API}/schedules/unknown-schedule"),
    ("get", "/api/docs"),
    ("get", "/api/openapi.json"),
]
CONTROL_ROUTES = [
    ("post", f"{API}/queues/meetings/pause", None),
    ("post", f"{API}/queues/meetings/resume", None),
    ("post", f"{API}/queues/pause", None),
    ("post", f"{API}/queues/resume", None),
    ("post", f"{API}/clean", {"older_than_seconds": 0}),
    ("post", f"{API}/jobs/unknown-job/retry", None),
    ("post", f"{API}/dead-letters/retry", {}),
    ("post", f"{API}/jobs/unknown-job/cancel", None),
]
ALL_ROUTES = [(method, path, None) for method, path in READ_ROUTES] + CONTROL_ROUTES


def _call(client, method, path, body=None, **headers):
    if method == "get":
        return client.get(path, **headers)
    return client.post(path, body or {}, content_type="application/json", **headers)


@pytest.mark.parametrize(("method", "path", "body"), ALL_ROUTES)
def test_anonymous_rejected_401(broker, api_client, method, path, body):
    response = _call(api_client, method, path, body)

    assert response.status_code == 401


@pytest.mark.parametrize(("method", "path", "body"), ALL_ROUTES)
def test_non_staff_session_rejected_403(broker, api_client, plain_user, method, path, body):
    api_client.force_login(plain_user)
    api_client.get("/admin/login/")

    response = _call(api_client, method, path, body, **csrf_header(api_client))

    assert response.status_code == 403


@pytest.mark.parametrize(("method", "path", "body"), CONTROL_ROUTES)
def test_read_token_on_control_route_403(broker, api_client, read_token, method, path, body):
    response = _call(api_client, method, path, body, **bearer(read_token))

    assert response.status_code == 403
    assert "control scope" in response.json()["detail"]


@pytest.mark.parametrize("token_fixture", ["expired_token", "revoked_token"])
@pytest.mark.parametrize(("method", "path", "body"), ALL_ROUTES)
def test_expired_or_revoked_token_401(
    broker, api_client, request, token_fixture, method, path, body
):
    token = request.getfixturevalue(token_fixture)

    response = _call(api_client, method, path, body, **bearer(token))

    assert response.status_code == 401


def test_non_staff_token_rejected_403(broker, api_client, plain_user):
    from queueadmin.models import TokenScope
    from tests.queueadmin.conftest import make_token

    token = make_token(plain_user, TokenScope.CONTROL)

    response = api_client.get(f"{API}/jobs", **bearer(token))

    assert response.status_code == 403


@pytest.mark.parametrize(
    "path", ["/api/docs", "/api/openapi.json", f"{API}/health", f"{API}/schedules"]
)
def test_read_token_reaches_read_routes(broker, api_client, read_token, path):
    response = api_client.get(path, **bearer(read_token))

    assert response.status_code == 200


def test_rejected_pause_changes_nothing(broker, api_client, read_token, plain_user):
    api_client.post(f"{API}/queues/meetings/pause", **bearer(read_token))
    api_client.post(f"{API}/queues/pause")

    assert get_paused_queues() == []
    assert AuditEntry.objects.count() == 0
    assert ApiToken.objects.get().last_used_at is None


def test_session_write_without_csrf_403(broker, staff_client):
    response = staff_client.post(f"{API}/queues/meetings/pause")

    assert response.status_code == 403
    assert get_paused_queues() == []


def test_session_write_with_csrf_allowed(broker, staff_client):
    response = staff_client.post(f"{API}/queues/meetings/pause", **csrf_header(staff_client))

    assert response.status_code == 200
    assert get_paused_queues() == ["meetings"]


def test_token_wins_over_failing_csrf(broker, staff_client, control_token):
    # The session cookie is sent without a CSRF token: the token must still work.
    response = staff_client.post(f"{API}/queues/emails/pause", **bearer(control_token))

    assert response.status_code == 200
    assert get_paused_queues() == ["emails"]
    entry = AuditEntry.objects.get()
    assert entry.channel == "api-token"
    assert entry.token_name == "control token"


def test_liveness_needs_no_auth(broker, api_client):
    response = api_client.get("/livez")

    assert response.status_code == 200
    assert response.content == b"ok"


def test_openapi_lists_queue_routes(broker, api_client, read_token):
    paths = api_client.get("/api/openapi.json", **bearer(read_token)).json()["paths"]

    for path in ("/api/queues/health", "/api/queues/metrics", "/api/queues/jobs",
                 "/api/queues/jobs/{job_id}", "/api/queues/queues/{name}/pause",
                 "/api/queues/clean", "/api/queues/dead-letters/retry",
                 "/api/queues/jobs/{job_id}/cancel", "/api/queues/schedules",
                 "/api/queues/schedules/{name}"):
        assert path in paths
