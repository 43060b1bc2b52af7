"""Delayed jobs survive worker crashes and Redis restarts, and run once."""

from __future__ import annotations

import os
import signal
import time

import dramatiq
import pytest
from django.conf import settings

from config.embedded_redis import EmbeddedRedis
from queueadmin.broker import ProjectRedisBroker
from queueadmin.enqueue import EnqueueRequest, build_message
from queueadmin.queues import MEETINGS
from tests.helpers import wait_until
from tests.testapp.models import Execution
from tests.testapp.tasks import note_job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def private_redis(tmp_path):
    """A Redis server of this test alone, with an append-only file, so it can restart."""
    server = EmbeddedRedis(tmp_path / "redis")
    server.ensure_running()
    yield server
    server.stop()


def _broker_for(url: str) -> ProjectRedisBroker:
    return ProjectRedisBroker(url=url, namespace=settings.QUEUE_REDIS_NAMESPACE, middleware=[])


def _delayed_key() -> str:
    return f"{settings.QUEUE_REDIS_NAMESPACE}:{MEETINGS}.delayed"


def test_delayed_job_survives_crash_and_restart(broker, worker_factory, private_redis):
    crashing = worker_factory([MEETINGS], threads=1, REDIS_URL=private_redis.url())
    sender = _broker_for(private_redis.url())
    message = build_message(note_job, note_job.validate(key="durable"), EnqueueRequest())
    sender.enqueue(message, delay=5000)

    # The worker dies before the job is due: nothing of the job was in its memory.
    os.killpg(crashing.process.pid, signal.SIGKILL)
    crashing.process.wait(timeout=30)
    assert sender.client.zcard(_delayed_key()) == 1

    # SHUTDOWN writes the append-only file; the new server reads it back.
    sender.client.close()
    private_redis.stop()
    private_redis.ensure_running()
    restarted = _broker_for(private_redis.url())
    assert restarted.client.zcard(_delayed_key()) == 1

    worker_factory([MEETINGS], threads=1, REDIS_URL=private_redis.url())
    wait_until(lambda: Execution.objects.filter(key="durable").exists(), timeout=60)
    restarted.join(MEETINGS, timeout=30_000)
    time.sleep(1)
    assert Execution.objects.filter(key="durable").count() == 1
    restarted.client.close()


def test_delayed_jobs_run_once_with_two_workers(broker, worker_factory):
    worker_factory([MEETINGS], threads=2)
    worker_factory([MEETINGS], threads=2)

    note_job.enqueue_many([{"key": f"once-{i}"} for i in range(60)], delay=1500)
    broker.join(MEETINGS, timeout=60_000)

    keys = list(Execution.objects.values_list("key", flat=True))
    assert len(keys) == 60
    assert len(set(keys)) == 60


def test_default_broker_is_project_broker():
    assert isinstance(dramatiq.get_broker(), ProjectRedisBroker)
