"""CPU snapshots of the benchmark harness, read from real processes and a real Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid

import psycopg
import pytest
import redis
from django.conf import settings

from bench.harness.cpu import CpuMeter, is_local_postgres, postgres_cpu_seconds, redis_cpu_seconds, tree_cpu_seconds
from bench.harness.database import create_database, drop_database

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


@pytest.fixture
def scratch_database():
    """Create a PostgreSQL database of its own on the local server and return its URL."""
    base_url = os.environ.get("DATABASE_URL")
    if not is_local_postgres(base_url):
        pytest.skip("DATABASE_URL is not a local PostgreSQL.")
    name = f"bench_cpu_{uuid.uuid4().hex[:8]}"
    yield create_database(base_url, name)
    drop_database(base_url, name)


def test_postgres_backend_of_database(scratch_database: str) -> None:
    name = scratch_database.rsplit("/", 1)[1]
    with psycopg.connect(scratch_database, autocommit=True) as connection:
        _, before = postgres_cpu_seconds(name)
        connection.execute("SELECT count(*) FROM generate_series(1, 5000000)").fetchone()
        _, after = postgres_cpu_seconds(name)
    # The query takes about 0.5 CPU seconds on a 2-core Xeon virtual machine.
    assert after - before >= 0.1


def test_postgres_backend_of_other_database(scratch_database: str) -> None:
    with psycopg.connect(scratch_database, autocommit=True) as connection:
        connection.execute("SELECT count(*) FROM generate_series(1, 1000000)").fetchone()
        everything, database = postgres_cpu_seconds("no_such_database")
    assert database == 0.0
    assert everything > 0


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
