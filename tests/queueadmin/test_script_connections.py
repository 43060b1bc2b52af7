"""Redis connections of the broker's script calls, across idle threads and interrupted calls."""

from __future__ import annotations

import sys
import threading
import time

import pytest
from dramatiq import Message
from dramatiq.middleware.time_limit import TimeLimitExceeded

from queueadmin.queues import EXTERNAL_API, MEETINGS
from tests.brokers import build_project_broker
from tests.helpers import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("broker")]


def _message(key: str) -> Message:
    return Message(queue_name=MEETINGS, actor_name="note_job", args=({"key": key},), kwargs={}, options={})


def _interrupt_before_script_reply(frame, event, arg):
    # Dramatiq's time limit raises TimeLimitExceeded in a worker thread
    # between two bytecodes. A function's entry is one such point, so this
    # raises it after EVALSHA was sent and before its reply is read.
    if event == "call" and frame.f_code.co_name == "parse_response":
        if frame.f_locals.get("command_name") == "EVALSHA":
            raise TimeLimitExceeded()
    return None


def test_interrupted_send_no_stale_reply(broker):
    broker.enqueue(_message("before-interrupt"))
    sys.settrace(_interrupt_before_script_reply)
    try:
        with pytest.raises(TimeLimitExceeded):
            broker.enqueue(_message("interrupted"))
    finally:
        sys.settrace(None)
    # A worker thread runs its after-message hooks before its next Redis
    # command, so the unread reply has usually arrived by then. redis-py's
    # pool reconnects a connection with unread data before it hands it out.
    time.sleep(0.5)

    try:
        result = broker.fetch(EXTERNAL_API, 1)
    finally:
        # Drops a connection that still has the unread reply, so that later
        # tests in this process start with clean connections.
        broker.client.connection_pool.disconnect()

    assert result.messages == []
    assert result.redis_message_ids == []


def test_idle_threads_fit_bounded_pool(private_redis):
    url = private_redis.start()
    broker = build_project_broker(f"{url}?max_connections=3")
    broker.declare_queue(MEETINGS)
    thread_count = 6
    errors = []
    one_sender = threading.Lock()
    # Each thread waits here after its send, so that all of them are alive
    # while the later ones send, as the threads of a web server or worker are.
    all_sent = threading.Barrier(thread_count + 1, timeout=30)

    def send_then_idle(number: int) -> None:
        with one_sender:
            try:
                broker.enqueue(_message(f"idle-thread-{number}"))
            except Exception as exc:  # noqa: BLE001 - the test reports every failure
                errors.append(exc)
        all_sent.wait()

    threads = [threading.Thread(target=send_then_idle, args=(n,)) for n in range(thread_count)]
    try:
        for thread in threads:
            thread.start()
        all_sent.wait()
    finally:
        for thread in threads:
            thread.join(10)
        broker.client.close()

    assert errors == []


def test_thread_connection_returned_when_thread_ends(broker):
    held_before = broker._thread_connections
    thread = threading.Thread(target=lambda: broker._thread_client().ping())
    thread.start()
    thread.join()

    # The thread's client is freed with the thread, and its count with it.
    assert wait_until(lambda: broker._thread_connections == held_before, timeout=5)
