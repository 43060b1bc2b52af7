"""The outbox keeps jobs while Redis is down; the relay sends them once, in order."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.core.management import call_command
from dramatiq import Message

from queueadmin.models import JobRecord, JobStatus, OutboxMessage
from queueadmin.outbox import outbox_size, relay
from tests.brokers import actors_on, build_project_broker
from tests.helpers import wait_until
from tests.testapp.models import Execution
from tests.testapp.tasks import record_once

# The job events of these tests reach the shared Redis, which the broker
# fixture empties after each test.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("broker")]


def test_enqueue_without_redis_uses_outbox(private_redis):
    broker = build_project_broker(private_redis.url)
    with actors_on(broker, record_once):
        started = time.monotonic()
        job_id = record_once.enqueue(key="offline")
        elapsed = time.monotonic() - started

    assert elapsed < 2 * settings.QUEUE_BROKER_TIMEOUT_SECONDS + 1
    assert outbox_size() == 1
    assert OutboxMessage.objects.get().job_id == job_id


def test_relay_sends_in_order_and_deletes(private_redis):
    broker = build_project_broker(private_redis.url)
    with actors_on(broker, record_once):
        job_ids = [record_once.enqueue(key=f"ordered-{n}") for n in range(3)]
        private_redis.start()

        result = relay(broker)

    assert result.sent == 3
    assert result.remaining == 0
    assert outbox_size() == 0
    client = private_redis_client(private_redis)
    queued = client.lrange(f"{settings.QUEUE_REDIS_NAMESPACE}:meetings", 0, -1)
    messages = [
        Message.decode(client.hget(f"{settings.QUEUE_REDIS_NAMESPACE}:meetings.msgs", item))
        for item in queued
    ]
    assert [message.message_id for message in messages] == job_ids


def test_relay_repeated_row_runs_once(private_redis, worker_factory):
    broker = build_project_broker(private_redis.url)
    with actors_on(broker, record_once):
        job_id = record_once.enqueue(key="relayed")
        row = OutboxMessage.objects.get()
        private_redis.start()
        relay(broker)
        # A relay that stopped after sending but before deleting sends again.
        row.pk = None
        row.job_id = job_id
        row.save()
        second = relay(broker)
        worker_factory(threads=2, REDIS_URL=private_redis.url)

        wait_until(
            lambda: JobRecord.objects.filter(job_id=job_id, status=JobStatus.SUCCEEDED).exists(),
            timeout=45,
        )

    assert second.sent == 0
    assert second.duplicates == 1
    assert outbox_size() == 0
    assert Execution.objects.filter(key="relayed").count() == 1
    assert broker.queue_depths("meetings") == {"high": 0, "normal": 0, "low": 0, "delayed": 0}


def test_relay_drops_row_whose_key_is_taken(private_redis):
    broker = build_project_broker(private_redis.url)
    with actors_on(broker, record_once):
        stored = record_once.enqueue(key="taken", idempotency_key="taken-key")
        private_redis.start()
        winner = record_once.enqueue(key="taken", idempotency_key="taken-key")

        result = relay(broker)

    assert winner != stored
    assert result.duplicates == 1
    assert outbox_size() == 0
    assert JobRecord.objects.get(job_id=stored).last_error == f"duplicate of job {winner}"


def test_relay_command_reports_counts(private_redis, capsys):
    broker = build_project_broker(private_redis.url)
    with actors_on(broker, record_once):
        record_once.enqueue(key="command")
        private_redis.start()
        settings_url = settings.REDIS_URL
        assert settings_url != private_redis.url
        call_command("relay_outbox")

    output = capsys.readouterr().out
    # The command uses the project broker; the shared Redis is reachable.
    assert "Sent 1 job(s)" in output
    assert "0 remaining" in output


def private_redis_client(server):
    import redis

    return redis.Redis.from_url(server.url)


def test_worker_relays_outbox_on_its_own(private_redis, worker_factory):
    broker = build_project_broker(private_redis.url)
    with actors_on(broker, record_once):
        job_id = record_once.enqueue(key="self-relayed")
    private_redis.start()

    worker_factory(REDIS_URL=private_redis.url, QUEUE_OUTBOX_RELAY_INTERVAL_SECONDS="0.5")

    wait_until(
        lambda: JobRecord.objects.filter(job_id=job_id, status=JobStatus.SUCCEEDED).exists(),
        timeout=45,
    )
    assert outbox_size() == 0
    assert Execution.objects.filter(key="self-relayed").count() == 1
