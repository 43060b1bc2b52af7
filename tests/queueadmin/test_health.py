"""Health transitions: idle, Redis down, a stuck queue, growing dead letters."""

from __future__ import annotations

import time

import pytest

from config.embedded_redis import EmbeddedRedis
from queueadmin.models import JobStatus
from tests.helpers import wait_until
from tests.queueadmin.conftest import API, bearer, record_with_status
from tests.testapp.tasks import counted_job, flaky_job

pytestmark = pytest.mark.django_db(transaction=True)


def _health(client, token):
    response = client.get(f"{API}/health", **bearer(token))
    return response.status_code, response.json()


def test_idle_system_healthy(broker, api_client, read_token):
    status_code, report = _health(api_client, read_token)

    assert status_code == 200
    assert report["status"] == "healthy"
    assert report["reasons"] == []
    assert report["redis_reachable"] is True
    assert report["redis_rtt_ms"] >= 0
    assert report["queues"]["emails"] == {
        "waiting": 0, "oldest_waiting_age_seconds": None, "live_workers": 0, "paused": False,
    }
    assert report["outbox_size"] == 0


def test_redis_down_unhealthy(broker, api_client, read_token, settings, tmp_path):
    server = EmbeddedRedis(tmp_path / "redis")
    settings.REDIS_URL = server.ensure_running()
    try:
        assert _health(api_client, read_token)[0] == 200
        assert api_client.get("/livez").content == b"ok"
    finally:
        server.stop()

    status_code, report = _health(api_client, read_token)

    assert status_code == 503
    assert report["status"] == "unhealthy"
    assert report["reasons"] == ["Redis is unreachable"]
    assert report["redis_reachable"] is False
    live = api_client.get("/livez")
    assert live.status_code == 503
    assert live.content == b"not ok"


def test_stuck_queue_unhealthy_then_recovers(worker_factory, api_client, read_token, settings):
    settings.QUEUE_HEALTH_STUCK_SECONDS = 2
    job_id = counted_job.enqueue(key="stuck")

    def unhealthy():
        status_code, report = _health(api_client, read_token)
        return report if status_code == 503 else None

    report = wait_until(unhealthy, timeout=60, interval=0.5)
    assert report["status"] == "unhealthy"
    assert "queue emails has 1 jobs waiting" in report["reasons"][0]
    assert report["queues"]["emails"]["live_workers"] == 0
    assert report["queues"]["emails"]["oldest_waiting_age_seconds"] >= 2

    worker_factory()
    record_with_status(job_id, JobStatus.SUCCEEDED)
    status_code, report = _health(api_client, read_token)
    assert status_code == 200
    assert report["status"] == "healthy"
    assert report["queues"]["emails"]["live_workers"] == 1


def test_slow_queue_with_worker_degraded(worker_factory, api_client, read_token, settings):
    settings.QUEUE_HEALTH_MAX_WAIT_SECONDS = 1
    worker_factory(queues=["emails"], threads=1)
    # One worker thread (prefetch 2) is busy, so the last jobs wait in Redis.
    for index in range(4):
        counted_job.enqueue(key=f"slow-{index}", sleep_seconds=3)

    def degraded():
        status_code, report = _health(api_client, read_token)
        return report if report["status"] == "degraded" else None

    report = wait_until(degraded, timeout=20, interval=0.3)
    assert "the oldest job has waited" in report["reasons"][0]


def test_paused_queue_with_jobs_degraded(broker, api_client, read_token, control_token):
    api_client.post(f"{API}/queues/meetings/pause", **bearer(control_token))
    flaky_job.enqueue(key="paused-wait")

    status_code, report = _health(api_client, read_token)

    assert status_code == 200
    assert report["status"] == "degraded"
    assert report["paused_queues"] == ["meetings"]
    assert report["reasons"] == ["queue meetings is paused with 1 jobs waiting"]


def test_growing_dead_letters_degraded(worker, api_client, read_token, settings):
    settings.QUEUE_HEALTH_DEAD_LETTER_THRESHOLD = 2
    first = flaky_job.enqueue(key="dies-1", fail_times=99)
    record_with_status(first, JobStatus.DEAD)
    time.sleep(0.5)
    assert _health(api_client, read_token)[1]["status"] == "healthy"

    second = flaky_job.enqueue(key="dies-2", fail_times=99)
    record_with_status(second, JobStatus.DEAD)

    def degraded():
        report = _health(api_client, read_token)[1]
        return report if report["status"] == "degraded" else None

    report = wait_until(degraded, timeout=10, interval=0.3)
    assert report["dead_letters"] == 2
    assert report["dead_letters_last_15_minutes"] == 2
    assert "2 jobs were dead-lettered" in report["reasons"][0]
