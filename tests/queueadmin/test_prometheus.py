"""The Prometheus endpoint: token protection and metrics from several processes."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from queueadmin.models import JobStatus
from tests.helpers import wait_until
from tests.queueadmin.conftest import bearer, record_with_status
from tests.testapp.tasks import counted_job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def prometheus_token(settings) -> str:
    settings.QUEUE_PROMETHEUS_TOKEN = "scrape-secret"
    return "scrape-secret"


def _samples(response) -> dict:
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_disabled_without_token_setting(broker, client, settings):
    settings.QUEUE_PROMETHEUS_TOKEN = ""

    assert client.get("/metrics").status_code == 404


@pytest.mark.parametrize("header", [{}, bearer("wrong"), {"HTTP_AUTHORIZATION": "scrape-secret"}])
def test_wrong_token_401(broker, client, prometheus_token, header):
    assert client.get("/metrics", **header).status_code == 401


def test_counters_from_two_worker_processes(worker_factory, client, prometheus_token):
    worker_factory(queues=["emails"], processes=2, threads=1)
    ids = [counted_job.enqueue(key=f"prom-{i}") for i in range(6)]
    failing = counted_job.enqueue(key="prom-fail", succeed_after=1)
    for job_id in [*ids, failing]:
        record_with_status(job_id, JobStatus.SUCCEEDED)

    def scraped():
        samples = _samples(client.get("/metrics", **bearer(prometheus_token)))
        labels = (("actor", "counted_job"), ("outcome", "succeeded"), ("queue", "emails"))
        return samples if samples.get(("meetingflow_jobs_total", labels)) == 7 else None

    samples = wait_until(scraped, timeout=10)
    labels = (("actor", "counted_job"), ("outcome", "failed"), ("queue", "emails"))
    assert samples[("meetingflow_jobs_total", labels)] == 1
    ok = (("actor", "counted_job"), ("outcome", "succeeded"), ("queue", "emails"))
    assert samples[("meetingflow_job_duration_seconds_count", ok)] == 7
    infinite = (("actor", "counted_job"), ("le", "+Inf"), ("outcome", "succeeded"), ("queue", "emails"))
    assert samples[("meetingflow_job_duration_seconds_bucket", infinite)] == 7
    assert samples[("meetingflow_queue_live_workers", (("queue", "emails"),))] == 2
    assert samples[("meetingflow_queue_waiting", (("queue", "emails"),))] == 0
