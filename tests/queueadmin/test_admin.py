"""The Django admin pages of the queue administration."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from queueadmin.models import AuditEntry, JobRecord, JobStatus
from queueadmin.pausing import get_paused_queues
from queueadmin.records import apply_events
from tests.queueadmin.conftest import record_with_status
from tests.testapp.tasks import counted_job, flaky_job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client_(transactional_db) -> Client:
    user = get_user_model().objects.create_superuser("root", password="pw-root")
    client = Client()
    client.force_login(user)
    return client


def _seed(count: int, status: str = "succeeded", queue: str = "emails") -> None:
    events = []
    for index in range(count):
        base = {"job": f"{status}-{queue}-{index}", "actor": "counted_job", "queue": queue}
        events.append({**base, "kind": "enqueued", "ts": 1000.0 + index})
        if status == "succeeded":
            events.append({**base, "kind": "succeeded", "ts": 1001.0 + index})
        if status == "dead":
            events.append({**base, "kind": "failed", "ts": 1001.0 + index, "dead": True})
    apply_events(events)


def test_overview_page(broker, admin_client_):
    flaky_job.enqueue(key="overview")

    response = admin_client_.get("/admin/queueadmin/queueoverview/")

    assert response.status_code == 200
    content = response.content.decode()
    assert 'data-queue="meetings"' in content
    assert "<svg" in content
    assert 'class="throughput-chart"' in content
    assert ">Pause</button>" in content


def test_overview_pause_resume_and_audit(broker, admin_client_):
    url = "/admin/queueadmin/queueoverview/"

    admin_client_.post(url, {"action": "pause", "queue": "emails"})
    assert get_paused_queues() == ["emails"]
    page = admin_client_.get(url).content.decode()
    assert ">Resume</button>" in page
    admin_client_.post(url, {"action": "resume", "queue": "emails"})

    assert get_paused_queues() == []
    entries = list(AuditEntry.objects.order_by("id").values_list("channel", "action", "target"))
    assert entries == [("admin", "pause", "emails"), ("admin", "resume", "emails")]


def test_overview_retry_dead_button(worker, admin_client_):
    job_id = counted_job.enqueue(key="admin-dead", succeed_after=3)
    record_with_status(job_id, JobStatus.DEAD)

    admin_client_.post(
        "/admin/queueadmin/queueoverview/", {"action": "retry-dead", "queue": "emails"}
    )

    record_with_status(job_id, JobStatus.SUCCEEDED)


def test_overview_needs_staff(broker, client, transactional_db):
    user = get_user_model().objects.create_user("visitor", password="pw")
    client.force_login(user)

    response = client.get("/admin/queueadmin/queueoverview/")

    assert response.status_code == 302


def test_job_changelist_filters_and_search(broker, admin_client_):
    _seed(30)
    _seed(5, status="dead", queue="meetings")

    response = admin_client_.get("/admin/queueadmin/jobrecord/", {"status": "dead"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 5
    found = admin_client_.get("/admin/queueadmin/jobrecord/", {"q": "succeeded-emails-3"})
    assert [row.job_id for row in found.context["cl"].result_list] == ["succeeded-emails-3"]
    by_queue = admin_client_.get("/admin/queueadmin/jobrecord/", {"queue": "meetings"})
    assert by_queue.context["cl"].result_count == 5
    by_actor = admin_client_.get("/admin/queueadmin/jobrecord/", {"actor": "counted_job"})
    assert by_actor.context["cl"].result_count == 35


def test_changelist_counts_are_capped(broker, admin_client_, monkeypatch):
    from queueadmin.admin import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "MAX_COUNT", 10)
    _seed(25)

    response = admin_client_.get("/admin/queueadmin/jobrecord/")

    assert response.context["cl"].result_count == 11


def test_cancel_action(broker, admin_client_):
    job_id = counted_job.enqueue(key="admin-cancel", delay=600_000)
    record_with_status(job_id, JobStatus.DELAYED)
    pk = JobRecord.objects.get(job_id=job_id).pk

    admin_client_.post(
        "/admin/queueadmin/jobrecord/",
        {"action": "cancel_jobs", "_selected_action": [pk]},
    )

    assert JobRecord.objects.get(job_id=job_id).status == JobStatus.CANCELLED
    assert AuditEntry.objects.get().action == "cancel"


def test_dead_letter_pages(broker, admin_client_):
    _seed(3, status="dead")
    _seed(2)

    listing = admin_client_.get("/admin/queueadmin/deadletter/")
    assert listing.context["cl"].result_count == 3
    ids = list(JobRecord.objects.filter(status="dead").values_list("pk", flat=True)[:2])
    admin_client_.post(
        "/admin/queueadmin/deadletter/", {"action": "purge", "_selected_action": ids}
    )

    assert JobRecord.objects.filter(status="dead").count() == 1
    assert JobRecord.objects.count() == 3


@pytest.mark.parametrize(
    "path",
    ["/admin/queueadmin/auditentry/", "/admin/queueadmin/apitoken/",
     "/admin/queueadmin/apitoken/add/", "/admin/"],
)
def test_admin_pages_render(broker, admin_client_, path):
    assert admin_client_.get(path).status_code == 200
