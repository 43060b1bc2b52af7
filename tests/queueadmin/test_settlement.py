"""Settling a message: job events, deferred commands and the ack or nack in one script call."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
import redis
from django.conf import settings
from django.test import override_settings
from dramatiq import Message

from queueadmin import jobevents, settlement
from queueadmin.broker import _load_script
from queueadmin.jobevents import EventBuffer
from queueadmin.queues import MEETINGS
from queueadmin.redisclient import job_events_key
from tests.brokers import build_project_broker
from tests.testapp.tasks import note_job

pytestmark = pytest.mark.django_db(transaction=True)


def _key(name: str) -> str:
    return f"{settings.QUEUE_REDIS_NAMESPACE}:{name}"


def _fetch_one(broker) -> Message:
    note_job.enqueue(key="settled")
    (data,) = broker.fetch(MEETINGS, 1).messages
    return Message.decode(data)


def _acks_key(broker) -> str:
    return _key(f"__acks__.{broker.broker_id}.{MEETINGS}")


@pytest.fixture
def quiet_buffer(monkeypatch):
    """A buffer of job events whose pusher thread sleeps through the test."""
    with override_settings(QUEUE_EVENT_PUSH_INTERVAL_SECONDS=60):
        fresh = EventBuffer()
        monkeypatch.setattr(jobevents, "buffer", fresh)
        yield fresh


def test_ack_pushes_events_and_runs_deferred_commands(broker, redis_client, quiet_buffer):
    message = _fetch_one(broker)
    delivery_id = message.options["redis_message_id"]
    redis_client.set(_key("settle:gone"), "x")
    redis_client.set(_key("settle:mine"), "holder-1")
    redis_client.set(_key("settle:theirs"), "holder-2")
    for command in (
        settlement.delete(_key("settle:gone")),
        settlement.set_with_lifetime(_key("settle:done"), "done:job", 300),
        settlement.delete_if_equal(_key("settle:mine"), "holder-1"),
        settlement.delete_if_equal(_key("settle:theirs"), "holder-1"),
    ):
        settlement.defer(broker, message, command)
    event = quiet_buffer.add_event("finished", message.message_id, ts=1.5)
    events_before = redis_client.llen(job_events_key())

    broker.do_ack(MEETINGS, delivery_id)

    assert not redis_client.sismember(_acks_key(broker), delivery_id)
    assert not redis_client.hexists(_key(f"{MEETINGS}.msgs"), delivery_id)
    assert redis_client.exists(_key("settle:gone")) == 0
    assert redis_client.get(_key("settle:done")) == b"done:job"
    assert 0 < redis_client.ttl(_key("settle:done")) <= 300
    assert redis_client.exists(_key("settle:mine")) == 0
    assert redis_client.get(_key("settle:theirs")) == b"holder-2"
    pushed = redis_client.lrange(job_events_key(), events_before, -1)
    assert [json.loads(line) for line in pushed] == [event]
    assert quiet_buffer.take_events().events == []
    assert settlement.take(delivery_id) == []


def _fetch_with_deferred_delete(broker, redis_client, name: str) -> tuple[Message, str]:
    """Fetch a message, set key ``name`` and defer its delete; return the message and delivery id."""
    message = _fetch_one(broker)
    settlement.defer(broker, message, settlement.delete(_key(name)))
    redis_client.set(_key(name), "held")
    return message, message.options["redis_message_id"]


def test_nack_moves_the_message_to_the_dead_letters(broker, redis_client, quiet_buffer):
    message, delivery_id = _fetch_with_deferred_delete(broker, redis_client, "settle:claim")

    broker.do_nack(MEETINGS, delivery_id)

    assert not redis_client.sismember(_acks_key(broker), delivery_id)
    assert not redis_client.hexists(_key(f"{MEETINGS}.msgs"), delivery_id)
    assert redis_client.zscore(_key(f"{MEETINGS}.XQ"), delivery_id) is not None
    dead = Message.decode(redis_client.hget(_key(f"{MEETINGS}.XQ.msgs"), delivery_id))
    assert dead.message_id == message.message_id
    assert redis_client.exists(_key("settle:claim")) == 0


def test_failed_deferred_command_still_acks(broker, redis_client, quiet_buffer, caplog):
    message = _fetch_one(broker)
    delivery_id = message.options["redis_message_id"]
    # Redis rejects a lifetime of 0 seconds, and the command after it still runs.
    settlement.defer(broker, message, settlement.set_with_lifetime(_key("settle:bad"), "v", 0))
    settlement.defer(broker, message, settlement.delete(_key("settle:after")))
    redis_client.set(_key("settle:after"), "x")

    with caplog.at_level(logging.ERROR, logger="queueadmin.broker"):
        broker.do_ack(MEETINGS, delivery_id)

    assert not redis_client.hexists(_key(f"{MEETINGS}.msgs"), delivery_id)
    assert redis_client.exists(_key("settle:bad")) == 0
    assert redis_client.exists(_key("settle:after")) == 0
    (record,) = [r for r in caplog.records if r.name == "queueadmin.broker"]
    assert record.getMessage() == (
        f"A command sent with the ack of {delivery_id} failed: ERR invalid expire time in 'set' command"
    )


def test_many_events_pushed_in_chunks(broker, redis_client, quiet_buffer):
    message = _fetch_one(broker)
    quiet_buffer.add_events([{"kind": "progress", "job": f"job-{i}", "ts": 1.0} for i in range(2_500)])
    events_before = redis_client.llen(job_events_key())

    broker.do_ack(MEETINGS, message.options["redis_message_id"])

    pushed = redis_client.lrange(job_events_key(), events_before, -1)
    assert [json.loads(line)["job"] for line in pushed] == [f"job-{i}" for i in range(2_500)]


def test_other_brokers_run_commands_at_once(redis_client):
    class PlainBroker:
        client = redis_client

    message = Message(queue_name=MEETINGS, actor_name="noop", args=(), kwargs={}, options={})
    redis_client.set(_key("settle:now"), "holder")

    settlement.defer(PlainBroker(), message, settlement.delete_if_equal(_key("settle:now"), "holder"))

    assert redis_client.exists(_key("settle:now")) == 0


def test_settle_loads_script_redis_lacks(broker, redis_client, quiet_buffer, monkeypatch):
    # A script text that this Redis has not seen, as after a restart that
    # emptied its script cache.
    source = _load_script("settle") + f"\n-- {uuid.uuid4()}\n"
    script = broker.client.register_script(source)
    monkeypatch.setitem(broker.project_scripts, "settle", script)
    message = _fetch_one(broker)
    delivery_id = message.options["redis_message_id"]
    settlement.defer(broker, message, settlement.delete(_key("settle:reloaded")))
    redis_client.set(_key("settle:reloaded"), "x")
    event = quiet_buffer.add_event("finished", message.message_id, ts=3.0)
    events_before = redis_client.llen(job_events_key())

    broker.do_ack(MEETINGS, delivery_id)

    assert redis_client.script_exists(script.sha) == [True]
    assert not redis_client.hexists(_key(f"{MEETINGS}.msgs"), delivery_id)
    assert redis_client.exists(_key("settle:reloaded")) == 0
    pushed = redis_client.lrange(job_events_key(), events_before, -1)
    assert [json.loads(line) for line in pushed] == [event]


def test_settle_retried_after_connection_loss(private_redis, quiet_buffer):
    private_redis.start()
    private_broker = build_project_broker(private_redis.url)
    client = redis.Redis.from_url(private_redis.url)
    bare = Message(queue_name=MEETINGS, actor_name="note_job", args=({"key": "lost"},), kwargs={}, options={})
    private_broker.enqueue(bare)
    (data,) = private_broker.fetch(MEETINGS, 1).messages
    message = Message.decode(data)
    delivery_id = message.options["redis_message_id"]
    client.set(_key("settle:count"), "1")
    settlement.defer(private_broker, message, settlement.delete(_key("settle:count")))
    event = quiet_buffer.add_event("finished", message.message_id, ts=4.0)
    private_redis.stop()

    with pytest.raises(redis.ConnectionError):
        private_broker.do_ack(MEETINGS, delivery_id)
    private_redis.start()
    private_broker.do_ack(MEETINGS, delivery_id)

    assert not client.hexists(_key(f"{MEETINGS}.msgs"), delivery_id)
    assert not client.sismember(_key(f"__acks__.{private_broker.broker_id}.{MEETINGS}"), delivery_id)
    assert client.exists(_key("settle:count")) == 0
    pushed = client.lrange(job_events_key(), 0, -1)
    assert [json.loads(line) for line in pushed] == [event]
    assert settlement.take(delivery_id) == []


def test_failed_event_push_keeps_the_events_and_settles(broker, redis_client, quiet_buffer):
    message, delivery_id = _fetch_with_deferred_delete(broker, redis_client, "settle:still-runs")
    # A job events key of another type makes the push fail.
    with override_settings(QUEUE_REDIS_NAMESPACE=f"settle-{uuid.uuid4().hex}"):
        redis_client.set(job_events_key(), "not a list")
        event = quiet_buffer.add_event("finished", message.message_id, ts=5.0)
        try:
            broker.do_ack(MEETINGS, delivery_id)
        finally:
            redis_client.delete(job_events_key())

    assert not redis_client.hexists(_key(f"{MEETINGS}.msgs"), delivery_id)
    assert redis_client.exists(_key("settle:still-runs")) == 0
    assert [json.loads(line) for line in quiet_buffer.take_events().events] == [event]
