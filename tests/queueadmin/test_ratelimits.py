"""Rate limits per integration, with a real worker on Redis."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from queueadmin.models import JobRecord, JobStatus
from queueadmin.ratelimits import Rate, parse_rate
from tests.helpers import wait_until
from tests.testapp.models import Execution
from tests.testapp.tasks import limited_job, note_job

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_for_second_start() -> None:
    # Start just after a second boundary, so that the limit's bucket of one
    # second has nearly all of its time left.
    while time.time() % 1 > 0.1:
        time.sleep(0.01)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/minute", Rate(10, 60_000)),
        ("5/second", Rate(5, 1000)),
        (" 2 / hour ", Rate(2, 3_600_000)),
    ],
)
def test_parse_rate_valid(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["0/second", "ten/minute", "5/day", "5"])
def test_parse_rate_invalid(text):
    with pytest.raises(ValueError, match="Invalid rate"):
        parse_rate(text)


def test_limited_jobs_spread_over_seconds(broker, worker_factory):
    process = worker_factory(threads=2)
    job_ids = limited_job.enqueue_many([{"key": f"limited-{i}"} for i in range(6)])

    wait_until(lambda: Execution.objects.count() == 6, timeout=60)
    records = JobRecord.objects.filter(job_id__in=job_ids)
    assert wait_until(lambda: records.filter(status=JobStatus.SUCCEEDED).count() == 6)

    # The buckets follow the time at which the limit admits a job. The start
    # time in the job record is taken a few hooks later. The job's own row is
    # written after a database round trip, which a busy machine can push past
    # the next bucket boundary.
    per_second = Counter(
        int(started.timestamp()) for started in records.values_list("started_at", flat=True)
    )
    assert max(per_second.values()) <= 2
    assert len(per_second) >= 3
    assert set(Execution.objects.values_list("attempt", flat=True)) == {1}
    assert set(records.values_list("attempts", flat=True)) == {1}
    assert process.count("Postponing job") >= 1


def test_waiting_job_frees_its_thread(broker, worker_factory):
    worker_factory(threads=1)
    _wait_for_second_start()
    for index in range(4):
        limited_job.enqueue(key=f"limited-{index}")
    note_job.enqueue(key="free")

    wait_until(lambda: Execution.objects.count() == 5, timeout=60)

    order = list(Execution.objects.order_by("id").values_list("key", flat=True))
    # Two limited jobs fit in the first second. The other two wait for the
    # next second without holding the only thread, so the free job runs first.
    assert order.index("free") < order.index("limited-2")
    assert order.index("free") < order.index("limited-3")


def test_unknown_limit_rejected_at_declaration():
    from pydantic import BaseModel

    from queueadmin.actors import job_actor

    class Empty(BaseModel):
        pass

    with pytest.raises(LookupError, match="Unknown rate limit 'nope'; configured: "):

        @job_actor(queue="meetings", payload=Empty, rate_limit="nope", actor_name="unknown_limit")
        def unknown_limit(job: Empty) -> None:
            """Never declared."""
