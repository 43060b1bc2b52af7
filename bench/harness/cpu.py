"""CPU time of the worker command, its companions, Redis and a local PostgreSQL.

A snapshot reads cumulative CPU seconds (user + system). The difference of
two snapshots is the CPU used between them. A process tree counts its live
processes plus the children that a process of the tree reaped, whose times
the kernel adds to the reaping parent (``children_user`` and
``children_system``). The same holds for PostgreSQL, whose postmaster reaps
every backend. Linux reports process CPU times in clock ticks (10 ms with
``USER_HZ`` = 100), and Redis reports its own with ``getrusage``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import psutil
import redis

from bench.harness.database import is_postgres

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class CpuSnapshot:
    """Cumulative CPU seconds of each part, read at one moment.

    ``postgres`` (every ``postgres`` process) and ``postgres_database`` (the
    live backends connected to the run's database) are None where the
    database is not a local PostgreSQL.
    """

    worker: float
    companions: float
    redis: float
    postgres: float | None
    postgres_database: float | None


@dataclass(frozen=True)
class CpuUsage:
    """CPU microseconds per job between two snapshots; ``companions`` is None without companions."""

    worker: float
    companions: float | None
    redis: float
    postgres: float | None
    postgres_database: float | None

    @property
    def total(self) -> float:
        """Sum of the parts; ``postgres_database`` is left out because ``postgres`` includes it."""
        parts = (self.worker, self.companions, self.redis, self.postgres)
        return sum(part for part in parts if part is not None)


class CpuMeter:
    """CPU snapshots of one drain: the worker command, its companions, Redis and PostgreSQL.

    ``database_url`` selects PostgreSQL accounting: only a ``postgres://``
    URL whose host is this machine (loopback or a Unix socket) counts.
    """

    def __init__(
        self, worker_pid: int, companion_pids: list[int], redis_client: redis.Redis, database_url: str | None
    ) -> None:
        self.worker_pid = worker_pid
        self.companion_pids = companion_pids
        self.redis_client = redis_client
        self.database = urlsplit(database_url).path.lstrip("/") if is_local_postgres(database_url) else None

    def snapshot(self) -> CpuSnapshot:
        postgres = postgres_database = None
        if self.database is not None:
            postgres, postgres_database = postgres_cpu_seconds(self.database)
        return CpuSnapshot(
            worker=tree_cpu_seconds(self.worker_pid),
            companions=sum(tree_cpu_seconds(pid) for pid in self.companion_pids),
            redis=redis_cpu_seconds(self.redis_client),
            postgres=postgres,
            postgres_database=postgres_database,
        )

    def usage(self, start: CpuSnapshot, end: CpuSnapshot, jobs: int) -> CpuUsage:
        """Return the CPU microseconds per job between ``start`` and ``end``."""
        def per_job(before: float, after: float) -> float:
            return (after - before) / jobs * 1e6

        return CpuUsage(
            worker=per_job(start.worker, end.worker),
            companions=per_job(start.companions, end.companions) if self.companion_pids else None,
            redis=per_job(start.redis, end.redis),
            postgres=None if end.postgres is None else per_job(start.postgres, end.postgres),
            postgres_database=(
                None if end.postgres_database is None
                else per_job(start.postgres_database, end.postgres_database)
            ),
        )


def is_local_postgres(url: str | None) -> bool:
    """Return whether ``url`` names a PostgreSQL server on this machine (loopback address or Unix socket)."""
    if not is_postgres(url):
        return False
    parts = urlsplit(url)
    # libpq takes a socket folder from the host part or from ?host=.
    host = parse_qs(parts.query).get("host", [unquote(parts.hostname or "")])[0]
    return not host or host.startswith("/") or host in LOCAL_HOSTS


def tree_cpu_seconds(pid: int) -> float:
    """Return the CPU seconds of process ``pid`` and its descendants, 0.0 if it no longer exists."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0.0
    return _cpu_seconds(processes)


def postgres_cpu_seconds(database: str) -> tuple[float, float]:
    """Return the CPU seconds of every local ``postgres`` process, and of the live backends connected to ``database``.

    A backend that exits drops out of the second value, because the
    postmaster that reaps it adds its times to its own, for all databases
    together.
    """
    processes = [process for process in psutil.process_iter(["name"]) if process.info["name"] == "postgres"]
    backends = [process for process in processes if _backend_database(process) == database]
    return _cpu_seconds(processes), _cpu_seconds(backends)


def _backend_database(process: psutil.Process) -> str | None:
    """Return the database in a backend's process title, ``postgres: [cluster: ]user database host(port) state``."""
    try:
        title = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    # NOTE: with update_process_title = off no title names a database, so the run's backends count 0.
    # The host is "[local]" or "address(port)", and neither contains ": ".
    words = title.rsplit(": ", 1)[-1].split()
    if len(words) < 3 or not (words[2] == "[local]" or words[2].endswith(")")):
        return None
    return words[1]


def redis_cpu_seconds(client: redis.Redis) -> float:
    """Return the CPU seconds of the Redis server from ``INFO cpu``, for all its clients."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _cpu_seconds(processes: Iterable[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total
