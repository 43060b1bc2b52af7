"""The Schedule admin pages: next runs, last run and validation on save."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from queueadmin.models import Schedule

pytestmark = pytest.mark.django_db


def test_changelist_shows_next_runs_and_lag(admin_client):
    Schedule(
        name="nightly",
        actor="note_job",
        arguments={"key": "nightly"},
        cron="30 2 * * *",
        timezone="Europe/Berlin",
        last_run_at=datetime(2026, 6, 1, 0, 30, 2, tzinfo=timezone.utc),
        last_lag_seconds=2.25,
    ).save()

    response = admin_client.get("/admin/queueadmin/schedule/")

    assert response.status_code == 200
    content = response.content.decode()
    assert "nightly" in content
    assert ":30:00" in content
    assert "2.250" in content


def test_add_form_rejects_invalid_cron(admin_client):
    response = admin_client.post(
        "/admin/queueadmin/schedule/add/",
        {
            "name": "broken",
            "actor": "note_job",
            "arguments": '{"key": "x"}',
            "cron": "61 * * * *",
            "timezone": "UTC",
            "enabled": "on",
            "misfire_policy": "coalesce",
            "grace_seconds": "300",
        },
    )

    assert response.status_code == 200
    assert "Invalid cron expression" in response.content.decode()
    assert not Schedule.objects.filter(name="broken").exists()
