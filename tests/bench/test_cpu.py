"""CPU snapshots of the benchmark harness, read from real processes and a real Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import redis
from django.conf import settings

from bench.harness.cpu import CpuMeter, is_local_postgres, postgres_cpu_seconds, redis_cpu_seconds, tree_cpu_seconds

#: Busy-loops for ``sys.argv[1]`` CPU seconds in a forked child, reaps it,
#: then waits for a line on stdin so that its own times stay readable.
SPIN_IN_CHILD = textwrap.dedent(
    """
    import os, sys, time

    def spin(seconds):
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass

    print("ready", flush=True)
    sys.stdin.readline()
    pid = os.fork()
    if pid == 0:
        spin(float(sys.argv[1]))
        os._exit(0)
    os.waitpid(pid, 0)
    print("done", flush=True)
    sys.stdin.readline()
    """
)


@pytest.fixture
def spinner():
    process = subprocess.Popen(
        [sys.executable, "-c", SPIN_IN_CHILD, "0.3"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline() == "ready\n"
    yield process
    process.kill()
    process.wait()


def test_tree_counts_reaped_child(spinner: subprocess.Popen) -> None:
    before = tree_cpu_seconds(spinner.pid)
    spinner.stdin.write("go\n")
    spinner.stdin.flush()
    assert spinner.stdout.readline() == "done\n"
    after = tree_cpu_seconds(spinner.pid)
    # The child spun 0.3 s and exited; its parent's children times hold it.
    assert after - before >= 0.25
    assert after - before < 1.0


def test_tree_of_missing_process_is_zero() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    assert tree_cpu_seconds(process.pid) == 0.0


def test_meter_usage_per_job(spinner: subprocess.Popen) -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        meter = CpuMeter(spinner.pid, [], client, "sqlite:///unused.sqlite3")
        start = meter.snapshot()
        spinner.stdin.write("go\n")
        spinner.stdin.flush()
        assert spinner.stdout.readline() == "done\n"
        end = meter.snapshot()
    finally:
        client.close()
    usage = meter.usage(start, end, jobs=1000)
    # 0.3 CPU seconds over 1,000 jobs is 300 µs per job.
    assert 250 <= usage.worker < 1000
    assert usage.companions is None
    assert usage.postgres is None
    assert usage.redis >= 0
    assert usage.total == pytest.approx(usage.worker + usage.redis)


def test_redis_cpu_grows() -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        before = redis_cpu_seconds(client)
        for _ in range(2000):
            client.ping()
        after = redis_cpu_seconds(client)
    finally:
        client.close()
    assert after > before


def test_postgres_cpu_is_read_locally() -> None:
    if not is_local_postgres(os.environ.get("DATABASE_URL")):
        pytest.skip("DATABASE_URL is not a local PostgreSQL.")
    # The server has run queries since it started, so its processes have used CPU.
    assert postgres_cpu_seconds() > 0


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("postgres://postgres@127.0.0.1:5432/db", True),
        ("postgresql://u:p@localhost/db", True),
        ("postgres://postgres@[::1]:5432/db", True),
        ("postgres:///db", True),
        ("postgres://%2Fvar%2Frun%2Fpostgresql/db", True),
        ("postgres:///db?host=/var/run/postgresql", True),
        ("postgres://postgres@db.example.com:5432/db", False),
        ("postgres:///db?host=db.example.com", False),
        ("sqlite:///var/bench.sqlite3", False),
        (None, False),
    ],
)
def test_is_local_postgres(url: str | None, local: bool) -> None:
    assert is_local_postgres(url) is local
