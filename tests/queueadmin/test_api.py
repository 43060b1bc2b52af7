"""The queue administration endpoints, against real Redis and real workers."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from queueadmin.models import AuditEntry, JobRecord, JobStatus
from tests.helpers import wait_until
from tests.queueadmin.conftest import API, bearer, record_with_status
from tests.testapp.models import Execution
from tests.testapp.tasks import counted_job, flaky_job

pytestmark = pytest.mark.django_db(transaction=True)


def test_job_found_right_after_enqueue(broker, api_client, read_token):
    # No worker or record writer runs: the lookup writes the pending job events itself.
    job_id = counted_job.enqueue(key="visible")

    response = api_client.get(f"{API}/jobs/{job_id}", **bearer(read_token))

    assert response.status_code == 200
    assert response.json()["status"] == "enqueued"
    assert response.json()["payload"]["key"] == "visible"


def test_unknown_job_404(broker, api_client, read_token):
    response = api_client.get(f"{API}/jobs/no-such-job", **bearer(read_token))

    assert response.status_code == 404
    assert "no-such-job" in response.json()["detail"]


def test_jobs_filters_and_cursor_pages(broker, api_client, read_token):
    ids = [counted_job.enqueue(key=f"page-{i}", correlation_id="batch-a") for i in range(5)]
    other = flaky_job.enqueue(key="other", correlation_id="batch-b")

    first = api_client.get(
        f"{API}/jobs", {"correlation_id": "batch-a", "limit": 2}, **bearer(read_token)
    ).json()
    second = api_client.get(
        f"{API}/jobs",
        {"correlation_id": "batch-a", "limit": 2, "cursor": first["next_cursor"]},
        **bearer(read_token),
    ).json()
    third = api_client.get(
        f"{API}/jobs",
        {"correlation_id": "batch-a", "limit": 2, "cursor": second["next_cursor"]},
        **bearer(read_token),
    ).json()

    listed = [item["job_id"] for page in (first, second, third) for item in page["items"]]
    assert listed == list(reversed(ids))
    assert third["next_cursor"] is None
    by_queue = api_client.get(f"{API}/jobs", {"queue": "meetings"}, **bearer(read_token))
    assert [item["job_id"] for item in by_queue.json()["items"]] == [other]
    by_actor = api_client.get(f"{API}/jobs", {"actor": "flaky_job"}, **bearer(read_token))
    assert [item["job_id"] for item in by_actor.json()["items"]] == [other]
    by_key = api_client.get(f"{API}/jobs", {"idempotency_key": ids[0]}, **bearer(read_token))
    assert [item["job_id"] for item in by_key.json()["items"]] == [ids[0]]
    by_status = api_client.get(f"{API}/jobs", {"status": "running"}, **bearer(read_token))
    assert by_status.json()["items"] == []
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    by_time = api_client.get(f"{API}/jobs", {"enqueued_after": future}, **bearer(read_token))
    assert by_time.json()["items"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 201}, "limit"), ({"limit": 0}, "limit"), ({"status": "bogus"}, "status"),
     ({"cursor": "x"}, "cursor"), ({"enqueued_after": "yesterday"}, "enqueued_after")],
)
def test_jobs_invalid_query_422(broker, api_client, read_token, params, field):
    response = api_client.get(f"{API}/jobs", params, **bearer(read_token))

    assert response.status_code == 422
    assert field in [error["loc"][-1] for error in response.json()["detail"]]


def test_clean_invalid_age_422(broker, api_client, control_token):
    response = api_client.post(
        f"{API}/clean", {"older_than_seconds": -1}, content_type="application/json",
        **bearer(control_token),
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "older_than_seconds"


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", f"{API}/jobs?queue=nope"), ("post", f"{API}/queues/nope/pause"),
     ("post", f"{API}/queues/nope/resume"), ("get", f"{API}/dead-letters?queue=nope")],
)
def test_unknown_queue_404(broker, api_client, control_token, method, path):
    response = getattr(api_client, method)(path, **bearer(control_token))

    assert response.status_code == 404
    assert "nope" in response.json()["detail"]


def test_pause_twice_and_resume_all(broker, api_client, control_token):
    first = api_client.post(f"{API}/queues/meetings/pause", **bearer(control_token)).json()
    second = api_client.post(f"{API}/queues/meetings/pause", **bearer(control_token)).json()
    paused_all = api_client.post(f"{API}/queues/pause", **bearer(control_token)).json()
    resumed = api_client.post(f"{API}/queues/resume", **bearer(control_token)).json()
    resumed_again = api_client.post(f"{API}/queues/emails/resume", **bearer(control_token))

    assert first["changed"] is True
    assert second["changed"] is False
    assert paused_all["paused_queues"] == ["meetings", "emails", "external_api"]
    assert paused_all["changed"] == ["emails", "external_api"]
    assert resumed["paused_queues"] == []
    assert resumed_again.json()["changed"] is False
    actions = list(AuditEntry.objects.order_by("id").values_list("action", "target", "outcome"))
    assert actions[0] == ("pause", "meetings", "ok")
    assert len(actions) == 5


def test_paused_queue_holds_jobs_in_order(worker_factory, api_client, control_token):
    api_client.post(f"{API}/queues/emails/pause", **bearer(control_token))
    worker = worker_factory(threads=1)
    ids = [counted_job.enqueue(key=f"order-{i}") for i in range(3)]

    time.sleep(3)
    assert Execution.objects.filter(key__startswith="order-").count() == 0
    health = api_client.get(f"{API}/health", **bearer(control_token)).json()
    assert health["queues"]["emails"]["waiting"] == 3
    assert health["paused_queues"] == ["emails"]

    # The pause survives a worker restart.
    worker.stop()
    worker = worker_factory(threads=1)
    time.sleep(2)
    assert Execution.objects.filter(key__startswith="order-").count() == 0

    api_client.post(f"{API}/queues/emails/resume", **bearer(control_token))
    wait_until(lambda: Execution.objects.filter(key__startswith="order-").count() == 3)
    order = list(Execution.objects.order_by("id").values_list("key", flat=True))
    assert order == ["order-0", "order-1", "order-2"]
    for job_id in ids:
        assert record_with_status(job_id, JobStatus.SUCCEEDED)


def test_cancel_waiting_job(worker_factory, api_client, control_token, redis_client):
    api_client.post(f"{API}/queues/emails/pause", **bearer(control_token))
    job_id = counted_job.enqueue(key="cancel-waiting")
    keep_id = counted_job.enqueue(key="keep-waiting")

    response = api_client.post(f"{API}/jobs/{job_id}/cancel", **bearer(control_token))

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    worker_factory()
    api_client.post(f"{API}/queues/emails/resume", **bearer(control_token))
    record_with_status(keep_id, JobStatus.SUCCEEDED)
    assert not Execution.objects.filter(key="cancel-waiting").exists()
    assert JobRecord.objects.get(job_id=job_id).status == JobStatus.CANCELLED


def test_cancel_delayed_job_never_runs(worker, api_client, control_token, redis_client):
    job_id = counted_job.enqueue(key="cancel-delayed", delay=2000)

    response = api_client.post(f"{API}/jobs/{job_id}/cancel", **bearer(control_token))

    assert response.status_code == 200
    record = record_with_status(job_id, JobStatus.CANCELLED)
    time.sleep(3)
    assert not Execution.objects.filter(key="cancel-delayed").exists()
    assert record.finished_at is not None
    assert redis_client.zcard(f"{broker_namespace()}:emails.delayed") == 0


def test_cancel_fetched_job_409(broker, api_client, control_token):
    job_id = counted_job.enqueue(key="fetched")
    # This process fetches the message, as a worker that has not started it yet would.
    assert len(broker.fetch("emails", 1).messages) == 1

    response = api_client.post(f"{API}/jobs/{job_id}/cancel", **bearer(control_token))

    assert response.status_code == 409
    assert "fetched" in response.json()["detail"]
    assert JobRecord.objects.get(job_id=job_id).status == JobStatus.ENQUEUED


def broker_namespace() -> str:
    from django.conf import settings

    return settings.QUEUE_REDIS_NAMESPACE


def test_cancel_finished_job_409(worker, api_client, control_token):
    job_id = counted_job.enqueue(key="finished")
    record_with_status(job_id, JobStatus.SUCCEEDED)

    response = api_client.post(f"{API}/jobs/{job_id}/cancel", **bearer(control_token))

    assert response.status_code == 409
    assert AuditEntry.objects.get().outcome == "rejected"


def test_retry_dead_job(worker, api_client, control_token, redis_client):
    job_id = counted_job.enqueue(key="revive", succeed_after=3)
    record_with_status(job_id, JobStatus.DEAD)
    xqueue = f"{broker_namespace()}:emails.XQ"
    assert redis_client.zcard(xqueue) == 1

    response = api_client.post(f"{API}/jobs/{job_id}/retry", **bearer(control_token))

    assert response.status_code == 200
    record = record_with_status(job_id, JobStatus.SUCCEEDED)
    assert record.attempts == 1
    assert record.options["retried_from_dead_letter"] is True
    assert Execution.objects.filter(key="revive").count() == 4
    assert redis_client.zcard(xqueue) == 0
    again = api_client.post(f"{API}/jobs/{job_id}/retry", **bearer(control_token))
    assert again.status_code == 409


def test_retry_dead_letters_by_actor(worker, api_client, control_token, read_token):
    dead_ids = [counted_job.enqueue(key=f"bulk-dead-{i}", succeed_after=3) for i in range(2)]
    other = flaky_job.enqueue(key="stays-dead", fail_times=99)
    for job_id in [*dead_ids, other]:
        record_with_status(job_id, JobStatus.DEAD)
    listed = api_client.get(f"{API}/dead-letters", **bearer(read_token)).json()
    assert {item["job_id"] for item in listed["items"]} == {*dead_ids, other}

    response = api_client.post(
        f"{API}/dead-letters/retry", {"actor": "counted_job"},
        content_type="application/json", **bearer(control_token),
    )

    assert response.status_code == 200
    assert response.json()["retried"] == 2
    for job_id in dead_ids:
        record_with_status(job_id, JobStatus.SUCCEEDED)
    assert JobRecord.objects.get(job_id=other).status == JobStatus.DEAD

    # Counters reach Redis with the worker's next event push, up to 0.2 s after the record.
    def metrics_with_dead_letter():
        data = api_client.get(f"{API}/metrics", **bearer(read_token)).json()
        return data if data["meetings"]["dead"] == 1 else None

    metrics = wait_until(metrics_with_dead_letter, timeout=10)
    assert metrics["emails"]["dead"] == 0
    assert metrics["meetings"]["dead"] == 1


def test_clean_removes_old_finished_records(worker, api_client, control_token):
    done = counted_job.enqueue(key="old-done")
    dead = flaky_job.enqueue(key="old-dead", fail_times=99)
    record_with_status(done, JobStatus.SUCCEEDED)
    record_with_status(dead, JobStatus.DEAD)
    waiting = counted_job.enqueue(key="future", delay=600_000)
    record_with_status(waiting, JobStatus.DELAYED)

    kept = api_client.post(
        f"{API}/clean", {"older_than_seconds": 3600}, content_type="application/json",
        **bearer(control_token),
    ).json()
    time.sleep(1.1)
    cleaned = api_client.post(
        f"{API}/clean", {"older_than_seconds": 1}, content_type="application/json",
        **bearer(control_token),
    ).json()

    assert kept == {"job_records": 0, "dead_letters": 0}
    assert cleaned == {"job_records": 1, "dead_letters": 1}
    assert list(JobRecord.objects.values_list("job_id", flat=True)) == [waiting]


def test_metrics_after_jobs(worker, api_client, read_token):
    ok = counted_job.enqueue(key="metric-ok")
    retried = counted_job.enqueue(key="metric-retry", succeed_after=1)
    for job_id in (ok, retried):
        record_with_status(job_id, JobStatus.SUCCEEDED)

    def emails_metrics():
        data = api_client.get(f"{API}/metrics", **bearer(read_token)).json()["emails"]
        return data if data["succeeded"] == 2 else None

    data = wait_until(emails_metrics, timeout=10)
    assert data["failed"] == 1
    assert data["throughput"]["last_1_minutes"] >= 3 or data["throughput"]["last_5_minutes"] == 3
    assert data["throughput"]["last_15_minutes"] == 3
    assert data["failure_rate"] == pytest.approx(1 / 3, abs=0.001)
    assert data["processing_ms"]["p50"] is not None
    assert data["wait_ms"]["p99"] is not None
    assert data["waiting"] == 0


def test_retention_deletes_expired_records(broker, settings):
    from queueadmin.cleaning import apply_retention
    from queueadmin.records import apply_events

    now = time.time()
    old, recent = now - 7200, now - 60
    events = []
    for job_id, finished, status in [
        ("old-ok", old, "succeeded"), ("recent-ok", recent, "succeeded"),
        ("old-dead", old, "dead"), ("recent-dead", recent, "dead"), ("old-waiting", None, ""),
    ]:
        base = {"job": job_id, "actor": "counted_job", "queue": "emails"}
        events.append({**base, "kind": "enqueued", "ts": old - 10})
        if status == "succeeded":
            events.append({**base, "kind": "succeeded", "ts": finished})
        if status == "dead":
            events.append({**base, "kind": "failed", "ts": finished, "dead": True})
    apply_events(events)
    settings.QUEUE_JOB_RECORD_RETENTION_SECONDS = 3600
    settings.QUEUE_DEAD_LETTER_RETENTION_SECONDS = 3600

    result = apply_retention()

    assert result.job_records == 1
    assert result.dead_letters == 1
    remaining = set(JobRecord.objects.values_list("job_id", flat=True))
    assert remaining == {"recent-ok", "recent-dead", "old-waiting"}
