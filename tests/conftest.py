"""Fixtures shared by the whole suite: Redis clean-up and real workers."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import dramatiq
import pytest
import redis
from django.conf import settings

from tests.brokers import RedisServer
from tests.workers import WorkerProcess, start_worker


def _namespace_keys(client: redis.Redis) -> list[bytes]:
    return list(client.scan_iter(match=f"{settings.QUEUE_REDIS_NAMESPACE}:*", count=1000))


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    # Only keys under this session's namespace are removed.
    keys = _namespace_keys(client)
    if keys:
        client.delete(*keys)
    client.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the embedded Redis if this pytest process started it, and remove
    this process's ``var/test-*`` folder."""
    from queueadmin.jobevents import buffer

    # Send what is still buffered while this session's Redis is up.
    buffer.push()
    server = settings.EMBEDDED_REDIS
    if server is not None and server.started_here:
        server.stop()
    var_dir = Path(settings.VAR_DIR)
    if var_dir.name.startswith("test-") and os.environ.get("TEST_KEEP_VAR") != "1":
        shutil.rmtree(var_dir, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def task_modules() -> None:
    """Import every ``tasks`` module before a test changes the settings.

    Some modules declare schedules at import by the settings (the Tencent
    Meeting sync), so a first import under a test's settings would keep that
    test's choice for the whole session.
    """
    from queueadmin.actors import import_task_modules

    import_task_modules()


@pytest.fixture
def broker(redis_client: redis.Redis) -> Iterator[dramatiq.Broker]:
    """The project's Redis broker, with this session's keys emptied after the test."""
    from queueadmin.jobevents import buffer

    yield dramatiq.get_broker()
    # Events still buffered in this process would otherwise reach Redis after
    # the clean-up and become job records of a later test.
    buffer.push()
    keys = _namespace_keys(redis_client)
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
def worker_factory(
    broker: dramatiq.Broker, transactional_db: None
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real worker processes; each is stopped when the test ends."""
    started: list[WorkerProcess] = []

    def factory(*args, **kwargs) -> WorkerProcess:
        worker = start_worker(*args, **kwargs)
        started.append(worker)
        return worker

    yield factory
    for worker in started:
        worker.stop()


@pytest.fixture
def worker(worker_factory: Callable[..., WorkerProcess]) -> WorkerProcess:
    """One worker process serving every queue."""
    return worker_factory()


@pytest.fixture
def private_redis(tmp_path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, not yet started; stopped at the end."""
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()
