"""The project's Redis broker: priorities, delays, pause flags and prefetch, with real workers."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid

import pytest
from django.conf import settings
from dramatiq import Message

from queueadmin import idempotency
from queueadmin.broker import _load_script
from queueadmin.enqueue import EnqueueRequest, build_message
from queueadmin.limits import get_actor_time_limit_ms
from queueadmin.middleware.idempotency import CLAIM_MARGIN_MS, IdempotentExecution
from queueadmin.models import JobRecord, JobStatus
from queueadmin.pausing import pause_queue, resume_queue
from queueadmin.queues import MEETINGS
from queueadmin.records import flush_job_events
from tests.helpers import wait_until
from tests.testapp.models import Execution
from tests.testapp.tasks import note_job

pytestmark = pytest.mark.django_db(transaction=True)


def _run_order() -> list[str]:
    return list(Execution.objects.order_by("id").values_list("key", flat=True))


def _key(name: str) -> str:
    return f"{settings.QUEUE_REDIS_NAMESPACE}:{name}"


def test_high_priority_passes_backlog(broker, worker_factory):
    note_job.enqueue_many([{"key": f"normal-{i}", "seconds": 0.02} for i in range(10_000)])
    worker_factory(threads=2)
    wait_until(lambda: Execution.objects.count() >= 5, timeout=60)

    finished_before = Execution.objects.count()
    note_job.enqueue(key="urgent", priority="high")

    wait_until(lambda: Execution.objects.filter(key="urgent").exists(), timeout=60)
    position = _run_order().index("urgent")
    # Only the jobs the two threads hold (one each with the prefetch of one
    # per thread) may finish between the enqueue and the urgent job.
    assert position - finished_before <= 4
    assert broker.queue_depths(MEETINGS)["normal"] > 9_000


def test_low_priority_runs_after_normal(broker, worker_factory):
    note_job.enqueue(key="low", priority="low")
    note_job.enqueue(key="normal")
    note_job.enqueue(key="high", priority="high")

    worker_factory(threads=1)
    wait_until(lambda: Execution.objects.count() == 3, timeout=60)

    assert _run_order() == ["high", "normal", "low"]


def test_priority_recorded_on_job(broker):
    job_id = note_job.enqueue(key="ranked", priority="high")

    flush_job_events(wait=True)
    record = JobRecord.objects.get(job_id=job_id)
    assert record.priority == -1
    assert broker.queue_depths(MEETINGS)["high"] == 1


def test_invalid_priority_rejected(broker):
    with pytest.raises(ValueError, match="Invalid priority 'urgent'; allowed: high, normal, low"):
        note_job.enqueue(key="x", priority="urgent")


def test_short_delay_not_behind_long_ones(broker, worker):
    note_job.enqueue_many([{"key": f"later-{i}"} for i in range(1_000)], delay=86_400_000)
    enqueued_at = time.time()
    job_id = note_job.enqueue(key="soon", delay=3000)

    execution = wait_until(lambda: Execution.objects.filter(key="soon").first(), timeout=30)

    started = execution.created_at.timestamp()
    assert started >= enqueued_at + 3.0
    succeeded = JobRecord.objects.filter(job_id=job_id, status=JobStatus.SUCCEEDED)
    assert wait_until(succeeded.exists, timeout=30)
    assert broker.queue_depths(MEETINGS)["delayed"] == 1_000
    assert Execution.objects.count() == 1


def test_delayed_job_waits_in_sorted_set(broker, redis_client):
    job_id = note_job.enqueue(key="far", delay=10 * 86_400_000)

    members = redis_client.zrange(_key(f"{MEETINGS}.delayed"), 0, -1, withscores=True)
    assert len(members) == 1
    member, due_ms = members[0]
    assert member.decode().startswith(f"normal:{job_id}:")
    assert due_ms > (time.time() + 9.9 * 86400) * 1000
    assert redis_client.hexists(_key(f"{MEETINGS}.msgs"), member)
    flush_job_events(wait=True)
    assert JobRecord.objects.get(job_id=job_id).status == JobStatus.DELAYED


def test_eta_beyond_seven_days_accepted(broker, redis_client):
    from datetime import datetime, timedelta, timezone

    eta = datetime.now(timezone.utc) + timedelta(days=30)
    note_job.enqueue(key="month", eta=eta)

    _, due_ms = redis_client.zrange(_key(f"{MEETINGS}.delayed"), 0, -1, withscores=True)[0]
    assert abs(due_ms / 1000 - eta.timestamp()) < 5


def test_cancel_delayed_removes_job(broker, worker):
    job_id = note_job.enqueue(key="cancelled", delay=1500)

    assert broker.cancel_delayed(MEETINGS, job_id) is True
    assert broker.cancel_delayed(MEETINGS, job_id) is False
    time.sleep(3)
    assert not Execution.objects.filter(key="cancelled").exists()
    assert broker.queue_depths(MEETINGS)["delayed"] == 0
    broker.join(MEETINGS, timeout=10_000)


def test_paused_queue_not_fetched(broker, worker, redis_client):
    redis_client.sadd(_key("__paused__"), MEETINGS)
    for index in range(3):
        note_job.enqueue(key=f"held-{index}")
    note_job.enqueue(key="held-delayed", delay=200)

    time.sleep(3)
    assert Execution.objects.count() == 0
    assert broker.queue_depths(MEETINGS)["normal"] == 4

    redis_client.srem(_key("__paused__"), MEETINGS)
    wait_until(lambda: Execution.objects.count() == 4, timeout=30)
    assert sorted(_run_order()) == ["held-0", "held-1", "held-2", "held-delayed"]


def test_paused_queue_keeps_order(broker, worker_factory, redis_client):
    redis_client.sadd(_key("__paused__"), MEETINGS)
    for index in range(5):
        note_job.enqueue(key=f"ordered-{index}")
    worker_factory(threads=1)
    time.sleep(2)
    assert Execution.objects.count() == 0

    redis_client.srem(_key("__paused__"), MEETINGS)
    wait_until(lambda: Execution.objects.count() == 5, timeout=30)
    assert _run_order() == [f"ordered-{index}" for index in range(5)]


def test_long_job_does_not_hold_back_others(broker, worker_factory):
    # Two single-thread workers: while one runs the long job it must not have
    # fetched the short jobs, so the idle one runs them at once.
    worker_factory([MEETINGS], threads=1)
    worker_factory([MEETINGS], threads=1)
    long_id = note_job.enqueue(key="long", seconds=8)
    wait_until(
        lambda: JobRecord.objects.filter(job_id=long_id, status=JobStatus.RUNNING).exists(),
        timeout=30,
    )

    for index in range(3):
        note_job.enqueue(key=f"short-{index}")

    wait_until(lambda: Execution.objects.count() >= 3, timeout=30)
    assert _run_order()[:3] == ["short-0", "short-1", "short-2"]
    assert not Execution.objects.filter(key="long").exists()


def test_join_waits_for_delayed_jobs(broker, worker):
    note_job.enqueue(key="joined", delay=1000)

    broker.join(MEETINGS, timeout=30_000)

    assert Execution.objects.filter(key="joined").count() == 1


def test_send_leaves_one_wake_token(broker, redis_client):
    note_job.enqueue_many([{"key": f"bulk-{index}"} for index in range(3)])
    note_job.enqueue(key="single")
    note_job.enqueue(key="delayed", delay=60_000)

    assert redis_client.lrange(_key(f"{MEETINGS}.wake"), 0, -1) == [b"1"]


def test_wait_for_wake_ends_on_send(broker, redis_client):
    assert broker.wait_for_wake(MEETINGS, 100) is False

    results: list[bool] = []
    waiter = threading.Thread(target=lambda: results.append(broker.wait_for_wake(MEETINGS, 1000)))
    waiter.start()
    note_job.enqueue(key="wakes")
    waiter.join(timeout=10)

    assert results == [True]
    assert redis_client.llen(_key(f"{MEETINGS}.wake")) == 0


def test_partial_fetch_passes_wake_token_on(broker, redis_client):
    for index in range(3):
        note_job.enqueue(key=f"ready-{index}")
    redis_client.delete(_key(f"{MEETINGS}.wake"))

    result = broker.fetch(MEETINGS, 1)

    assert len(result.messages) == 1
    assert result.next_due_ms is None
    assert redis_client.llen(_key(f"{MEETINGS}.wake")) == 1


def test_empty_fetch_reports_next_due_time(broker):
    assert broker.fetch(MEETINGS, 1).next_due_ms is None

    note_job.enqueue(key="later", delay=60_000)
    result = broker.fetch(MEETINGS, 1)

    assert result.messages == []
    assert 50_000 < result.next_due_ms <= 60_000


def test_maintenance_keeps_priority_of_lost_jobs(broker, redis_client):
    job_id = note_job.enqueue(key="urgent", priority="high")
    fetched = broker.fetch(MEETINGS, 1)
    assert len(fetched.messages) == 1
    # Make this process look dead to the maintenance pass.
    redis_client.zadd(_key("__heartbeats__"), {broker.broker_id: 0})
    redis_client.delete(_key(f"{MEETINGS}.wake"))

    broker._run_maintenance(MEETINGS)

    high = redis_client.lrange(_key(f"{MEETINGS}.high"), 0, -1)
    assert [member.decode().split(":")[1] for member in high] == [job_id]
    assert redis_client.llen(_key(MEETINGS)) == 0
    assert redis_client.llen(_key(f"{MEETINGS}.wake")) == 1


def test_idle_consumer_fetches_only_when_woken(broker, redis_client):
    consumer = broker.consume(MEETINGS, prefetch=1, timeout=100)
    assert next(consumer) is None
    job_id = note_job.enqueue(key="unannounced")
    redis_client.delete(_key(f"{MEETINGS}.wake"))

    assert next(consumer) is None
    assert redis_client.llen(_key(MEETINGS)) == 1

    broker.wake_consumers(MEETINGS)
    messages = [next(consumer) for _ in range(2)]
    assert messages[0] is None
    assert messages[1].message_id == job_id
    assert redis_client.llen(_key(MEETINGS)) == 0


def test_busy_consumer_fetches_a_batch_of_free_slots(broker, redis_client):
    note_job.enqueue_many([{"key": f"batch-{i}"} for i in range(12)])
    # A prefetch of 8 fetches again once 2 slots are free.
    consumer = broker.consume(MEETINGS, prefetch=8, timeout=100)
    running = [next(consumer) for _ in range(8)]
    assert redis_client.llen(_key(MEETINGS)) == 4

    consumer.ack(running[0])
    assert next(consumer) is None
    assert redis_client.llen(_key(MEETINGS)) == 4

    consumer.ack(running[1])
    assert next(consumer).message_id not in {message.message_id for message in running}
    assert next(consumer) is not None
    assert redis_client.llen(_key(MEETINGS)) == 2


def test_busy_consumer_fills_a_lone_free_slot(broker, redis_client):
    # With one message per thread, a free slot is an idle thread. Seven long
    # jobs may hold the other slots for minutes, so a slot that stays free
    # for a few milliseconds is filled without waiting for a second one.
    note_job.enqueue_many([{"key": f"long-{i}"} for i in range(8)])
    consumer = broker.consume(MEETINGS, prefetch=8, timeout=100)
    running = [next(consumer) for _ in range(8)]
    consumer.ack(running[0])
    waiting_id = note_job.enqueue(key="waiting")

    fetched = None
    deadline = time.monotonic() + 1.0
    while fetched is None and time.monotonic() < deadline:
        fetched = next(consumer)

    assert fetched is not None
    assert fetched.message_id == waiting_id


def test_undecodable_message_dead_lettered(broker, redis_client, caplog):
    note_job.enqueue(key="before")
    # A message that other code wrote into the queue's hash, not JSON.
    bad_id = f"normal:{uuid.uuid4().hex}:abc"
    redis_client.hset(_key(f"{MEETINGS}.msgs"), bad_id, b"\x00not json")
    redis_client.rpush(_key(MEETINGS), bad_id)
    note_job.enqueue(key="after")
    consumer = broker.consume(MEETINGS, prefetch=3, timeout=100)

    with caplog.at_level(logging.ERROR, logger="queueadmin.broker"):
        messages = [next(consumer), next(consumer)]

    assert [message.args[0]["key"] for message in messages] == ["before", "after"]
    assert redis_client.zscore(_key(f"{MEETINGS}.XQ"), bad_id) is not None
    assert redis_client.hget(_key(f"{MEETINGS}.XQ.msgs"), bad_id) == b"\x00not json"
    assert not redis_client.sismember(_key(f"__acks__.{broker.broker_id}.{MEETINGS}"), bad_id)
    job_id = bad_id.split(":")[1]
    assert f"Dead-lettering job {job_id} of queue {MEETINGS}: the message cannot be decoded" in caplog.text
    flush_job_events(wait=True)
    record = JobRecord.objects.get(job_id=job_id)
    assert record.status == JobStatus.DEAD
    assert record.last_error == "the message cannot be decoded, it starts with b'\\x00not json'"
    assert record.broker_message_id == bad_id


def test_delayed_send_wakes_a_consumer(broker, redis_client):
    note_job.enqueue(key="later", delay=60_000)

    assert redis_client.llen(_key(f"{MEETINGS}.wake")) == 1


def test_requeue_wakes_a_consumer(broker, redis_client):
    note_job.enqueue(key="handed-back")
    fetched = broker.fetch(MEETINGS, 1)
    redis_client.delete(_key(f"{MEETINGS}.wake"))

    broker.do_requeue(MEETINGS, Message.decode(fetched.messages[0]).options["redis_message_id"])

    assert redis_client.llen(_key(MEETINGS)) == 1
    assert redis_client.llen(_key(f"{MEETINGS}.wake")) == 1


def test_resume_wakes_a_consumer(broker, redis_client):
    pause_queue(MEETINGS)
    redis_client.delete(_key(f"{MEETINGS}.wake"))

    resume_queue(MEETINGS)

    assert redis_client.llen(_key(f"{MEETINGS}.wake")) == 1


@pytest.fixture
def claiming_broker(broker):
    """The broker with claims made by its fetch: 5 s for ``note_job``, 1 s past a job's own limit."""
    broker.claim_keys_on_fetch(lambda queue_name: {note_job.actor_name: 5000}, 1000)
    yield broker
    broker.claim_keys_on_fetch(None)


def _send_with_key(broker, key: str, **options) -> Message:
    """Send a ``note_job`` message with an idempotency key, past the enqueue-time check."""
    message = build_message(note_job, note_job.validate(key=key), EnqueueRequest(idempotency_key=key))
    return broker.enqueue(message.copy(options=options) if options else message)


def _run_key(key: str) -> str:
    return idempotency.run_key(settings.QUEUE_REDIS_NAMESPACE, note_job.actor_name, key)


def test_fetch_claims_idempotency_key(claiming_broker, redis_client):
    sent = _send_with_key(claiming_broker, "claimed-on-fetch")

    result = claiming_broker.fetch(MEETINGS, 1)

    assert result.claims == [True]
    delivery = Message.decode(result.messages[0]).options["redis_message_id"]
    assert delivery == sent.options["redis_message_id"]
    holder = f"running:{sent.message_id}:{delivery}"
    assert redis_client.get(_run_key("claimed-on-fetch")).decode() == holder
    assert 4000 < redis_client.pttl(_run_key("claimed-on-fetch")) <= 5000


def test_fetch_reports_held_key(claiming_broker):
    first = _send_with_key(claiming_broker, "held-on-fetch")
    claiming_broker.fetch(MEETINGS, 1)
    _send_with_key(claiming_broker, "held-on-fetch")

    result = claiming_broker.fetch(MEETINGS, 1)

    assert result.claims == [f"running:{first.message_id}:{first.options['redis_message_id']}"]
    claim = idempotency.read_claim(result.claims[0])
    assert claim.outcome is idempotency.ClaimOutcome.HELD
    assert claim.other_job_id == first.message_id


def test_fetch_claim_lasts_own_limit(claiming_broker, redis_client):
    _send_with_key(claiming_broker, "own-limit", time_limit=20_000)

    assert claiming_broker.fetch(MEETINGS, 1).claims == [True]
    assert 20_000 < redis_client.pttl(_run_key("own-limit")) <= 21_000


def test_fetch_skips_unlisted_actors(broker, redis_client):
    broker.claim_keys_on_fetch(lambda queue_name: {"another_actor": 5000}, 1000)
    try:
        _send_with_key(broker, "other-actor")
        assert broker.fetch(MEETINGS, 1).claims == [None]
    finally:
        broker.claim_keys_on_fetch(None)

    assert not redis_client.exists(_run_key("other-actor"))


def test_fetch_claims_nothing_when_off(broker, redis_client):
    _send_with_key(broker, "claims-off")

    assert broker.fetch(MEETINGS, 1).claims == [None]
    assert not redis_client.exists(_run_key("claims-off"))


def test_worker_boot_moves_claim_into_fetch(broker, redis_client):
    execution = next(m for m in broker.middleware if isinstance(m, IdempotentExecution))
    execution.before_worker_boot(broker, None)
    try:
        _send_with_key(broker, "claimed-by-worker")
        assert broker.fetch(MEETINGS, 1).claims == [True]
    finally:
        broker.claim_keys_on_fetch(None)

    # The job's own time limit and margin, plus the longest wait for a thread:
    # one job of the slowest actor.
    limits = [get_actor_time_limit_ms(actor, actor.queue_name) or 600_000 for actor in broker.actors.values()]
    own = get_actor_time_limit_ms(note_job.actor, MEETINGS) or 600_000
    lifetime = own + max(limits) + CLAIM_MARGIN_MS
    assert lifetime - 1000 < redis_client.pttl(_run_key("claimed-by-worker")) <= lifetime


def test_send_loads_script_redis_lacks(broker, redis_client, monkeypatch):
    # A script text that this Redis has not seen, as after a restart that
    # emptied its script cache.
    source = _load_script("send") + f"\n-- {uuid.uuid4()}\n"
    script = broker.client.register_script(source)
    assert redis_client.script_exists(script.sha) == [False]
    monkeypatch.setitem(broker.project_scripts, "send", script)
    message = build_message(note_job, note_job.validate(key="reloaded"), EnqueueRequest())
    holder = broker.send_one(message, idempotency_key="note_job:reloaded")
    assert holder is None
    assert redis_client.script_exists(script.sha) == [True]
    assert redis_client.hexists(_key(f"{MEETINGS}.msgs"), message.options["redis_message_id"])


def test_due_job_wakes_idle_consumer(broker, redis_client):
    busy = broker.consume(MEETINGS, prefetch=1, timeout=100)
    idle = broker.consume(MEETINGS, prefetch=1, timeout=100)
    assert next(idle) is None
    assert next(busy) is None

    # The busy consumer takes both tokens: it learns when the delayed job is
    # due, then fetches a long job that fills its only slot.
    note_job.enqueue(key="due-soon", delay=300)
    due_at = time.monotonic() + 0.3
    assert next(busy) is None
    assert next(busy) is None
    long_id = note_job.enqueue(key="long")
    assert next(busy) is None
    assert next(busy).message_id == long_id
    assert redis_client.llen(_key(f"{MEETINGS}.wake")) == 0

    # When the job comes due, the busy consumer, with no free slot, wakes
    # an idle one, which fetches the job.
    time.sleep(max(0.0, due_at - time.monotonic()) + 0.05)
    assert next(busy) is None
    assert redis_client.llen(_key(f"{MEETINGS}.wake")) == 1

    fetched = next(idle) or next(idle)
    assert fetched.args[0]["key"] == "due-soon"


def test_script_client_per_thread(broker):
    own = broker._thread_client()
    others = []
    thread = threading.Thread(target=lambda: others.append(broker._thread_client()))
    thread.start()
    thread.join()

    assert broker._thread_client() is own
    assert others[0] is not own
    assert others[0].connection is not own.connection
    assert own.ping() is True


def test_script_client_new_in_forked_child(broker):
    parent = broker._thread_client()
    parent.ping()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        # The child reports, then exits without running the parent's clean-up.
        try:
            child = broker._thread_client()
            fresh = child is not parent and child.connection is not parent.connection
            # The child's last reference to the inherited client: deleting it closes that client.
            del parent
            os.write(write_end, b"1" if fresh and child.ping() else b"0")
        finally:
            os._exit(0)
    os.close(write_end)
    report = os.read(read_end, 1)
    os.close(read_end)
    os.waitpid(pid, 0)

    assert report == b"1"
    # The child's replaced client left the parent's connection open.
    assert parent.ping() is True
