"""Fixtures of the queue administration tests: users, tokens and API clients."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from queueadmin.models import ApiToken, JobRecord, TokenScope
from queueadmin.records import flush_job_events
from tests.helpers import wait_until

API = "/api/queues"


@pytest.fixture
def staff_user(transactional_db):
    return get_user_model().objects.create_user("operator", password="pw-operator", is_staff=True)


@pytest.fixture
def plain_user(transactional_db):
    return get_user_model().objects.create_user("visitor", password="pw-visitor")


def make_token(user, scope: str, **fields) -> str:
    token = ApiToken(name=f"{scope} token", user=user, scope=scope, **fields)
    raw = token.set_new_key()
    token.save()
    return raw


@pytest.fixture
def read_token(staff_user) -> str:
    return make_token(staff_user, TokenScope.READ)


@pytest.fixture
def control_token(staff_user) -> str:
    return make_token(staff_user, TokenScope.CONTROL)


@pytest.fixture
def expired_token(staff_user) -> str:
    return make_token(
        staff_user, TokenScope.CONTROL, expires_at=timezone.now() - timedelta(minutes=1)
    )


@pytest.fixture
def revoked_token(staff_user) -> str:
    return make_token(staff_user, TokenScope.CONTROL, revoked_at=timezone.now())


@pytest.fixture
def api_client() -> Client:
    """A client that enforces CSRF, as browsers see the site."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def staff_client(staff_user) -> Client:
    """A logged-in staff client with a CSRF cookie; send ``csrf_header(client)`` on writes."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    client.get("/admin/")
    return client


def csrf_header(client: Client) -> dict[str, str]:
    return {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def record_when(job_id: str, condition, timeout: float = 30.0) -> JobRecord:
    """Flush job events until the job's record meets ``condition``; return it."""

    def check():
        flush_job_events(wait=True)
        record = JobRecord.objects.filter(job_id=job_id).first()
        return record if record is not None and condition(record) else None

    return wait_until(check, timeout=timeout, interval=0.1)


def record_with_status(job_id: str, *statuses: str, timeout: float = 30.0) -> JobRecord:
    return record_when(job_id, lambda record: record.status in statuses, timeout)
