"""``GET /metrics`` in the Prometheus text format, built from the Redis counters.

Counters and histograms come from the hashes that every worker process adds
to (``queueadmin.metrics``), so one scrape of the web process covers all
workers. Requests must send ``Authorization: Bearer <QUEUE_PROMETHEUS_TOKEN>``;
with an empty setting the endpoint returns 404.
"""

from __future__ import annotations

import hmac
from collections import defaultdict
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from queueadmin import metrics
from queueadmin.brokerqueues import get_queue_depth
from queueadmin.deadletters import count_dead_letters
from queueadmin.pausing import get_paused_queues
from queueadmin.queues import QUEUES
from queueadmin.redisclient import get_redis
from queueadmin.workers import count_live_workers, count_running, get_live_workers


def _histograms() -> dict[tuple[str, str, str], dict[str, float]]:
    series: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    for field, value in get_redis().hgetall(metrics.duration_key()).items():
        queue, actor, outcome, part = field.decode().split("|")
        series[(queue, actor, outcome)][part] = float(value)
    return series


def _histogram_buckets(parts: dict[str, float]) -> tuple[list[tuple[str, float]], float]:
    buckets, cumulative = [], 0.0
    bounds = [*metrics.DURATION_BUCKETS_MS, float("inf")]
    for index, bound in enumerate(bounds):
        cumulative += parts.get(str(index), 0.0)
        label = "+Inf" if bound == float("inf") else repr(bound / 1000)
        buckets.append((label, cumulative))
    return buckets, parts.get("sum", 0.0) / 1000


class QueueCollector:
    """Collect queue depths, job counters and duration histograms from Redis."""

    def collect(self) -> Iterator:
        yield from self._depths()
        jobs = CounterMetricFamily(
            "meetingflow_jobs", "Jobs by queue, actor and outcome.",
            labels=["queue", "actor", "outcome"],
        )
        for field, value in get_redis().hgetall(metrics.jobs_key()).items():
            jobs.add_metric(field.decode().split("|"), float(value))
        yield jobs
        durations = HistogramMetricFamily(
            "meetingflow_job_duration_seconds", "Processing time of job attempts.",
            labels=["queue", "actor", "outcome"],
        )
        for labels, parts in sorted(_histograms().items()):
            buckets, total = _histogram_buckets(parts)
            durations.add_metric(list(labels), buckets, total)
        yield durations

    def _depths(self) -> Iterator:
        workers = get_live_workers()
        paused = set(get_paused_queues())
        dead = count_dead_letters()
        families = {
            name: GaugeMetricFamily(f"meetingflow_queue_{name}", text, labels=["queue"])
            for name, text in (
                ("waiting", "Jobs waiting in the queue."),
                ("delayed", "Delayed jobs not yet fetched by a worker."),
                ("running", "Jobs being processed."),
                ("dead_letters", "Dead-lettered jobs."),
                ("live_workers", "Worker processes with a recent heartbeat."),
                ("paused", "1 when the queue is paused."),
            )
        }
        for queue in QUEUES:
            depth = get_queue_depth(queue)
            families["waiting"].add_metric([queue], depth.waiting)
            families["delayed"].add_metric([queue], depth.delayed)
            families["running"].add_metric([queue], count_running(queue, workers))
            families["dead_letters"].add_metric([queue], dead.get(queue, 0))
            families["live_workers"].add_metric([queue], count_live_workers(queue, workers))
            families["paused"].add_metric([queue], 1 if queue in paused else 0)
        yield from families.values()


def _authorized(request: HttpRequest) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = settings.QUEUE_PROMETHEUS_TOKEN
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), expected)


@never_cache
@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """Return the metrics; 404 when no token is configured, 401 for a wrong token."""
    if not settings.QUEUE_PROMETHEUS_TOKEN:
        return HttpResponse("The Prometheus endpoint is disabled.", status=404)
    if not _authorized(request):
        return HttpResponse("Unauthorized", status=401, headers={"WWW-Authenticate": "Bearer"})
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
