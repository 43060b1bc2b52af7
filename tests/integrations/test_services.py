"""The service functions that other code calls to start jobs."""

from __future__ import annotations

import pytest

from integrations.services import add_lark_bitable_sync_job, add_sync_job
from meetings.services import add_analysis_job
from queueadmin.errors import InvalidPayloadError
from queueadmin.models import JobRecord

pytestmark = pytest.mark.django_db


def test_sync_job_for_lark_target(broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job_id = add_sync_job(7, "lark_bitable")

    record = JobRecord.objects.get(job_id=job_id)
    assert record.actor == "sync_lark_bitable"
    assert record.queue == "external_api"
    assert record.payload == {"meeting_id": 7}


def test_sync_job_unknown_target_rejected(broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as sends:
        with pytest.raises(InvalidPayloadError, match="target"):
            add_sync_job(7, "notion")

    assert sends == []


def test_lark_sync_job_rejects_bad_meeting_id(broker):
    with pytest.raises(InvalidPayloadError, match="meeting_id"):
        add_lark_bitable_sync_job(0)


def test_analysis_job_enqueued(broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job_id = add_analysis_job(3, "transcript", user_id=11)

    record = JobRecord.objects.get(job_id=job_id)
    assert record.actor == "analyze_meeting"
    assert record.payload == {"meeting_id": 3}
    assert record.user_id == "11"


def test_analysis_job_unknown_kind_rejected(broker):
    with pytest.raises(InvalidPayloadError, match="kind"):
        add_analysis_job(3, "emotion")
