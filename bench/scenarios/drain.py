"""Drain throughput and worker memory: N waiting jobs processed by one worker command.

Definition, the same for every system: N jobs are sent before the worker
command starts. The product's record writer (the companion command of
``--record-writer process``, the default) starts before the fill and writes
the fill's records before the worker command starts, as a writer that runs
all the time would, so the drain is not charged for the enqueue's records.
The harness reads the queue state from Redis every ``POLL_INTERVAL_SECONDS``.
The drain starts at the first reading with fewer than N jobs waiting, so the
start-up (imports, forking, connecting) is left out. It ends at the first of
two readings in a row that find no job waiting and none unfinished.
Throughput is N divided by the time between the two.

"Unfinished" is read from each system's own bookkeeping: Dramatiq's and the
product's message hash (a message leaves it when acknowledged after its job
ran), kombu's ``unacked`` hash (with ``task_acks_late``), and RQ's finished
and failed job registries.

CPU: ``bench.harness.cpu`` takes a snapshot at the drain's start and at its
end (the first of the two closing readings). The drain reports the CPU
microseconds per job between the two for the worker command's process tree,
the companions' trees, the Redis server (all its clients, including this
harness's polling) and, where the database is a local PostgreSQL, every
``postgres`` process and the backends of the run's database alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.harness.cpu import CpuMeter, CpuSnapshot, CpuUsage
from bench.harness.database import clear_job_records
from bench.harness.processes import ManagedProcess, RssSampler, start_companions
from bench.harness.session import BenchRun, progress
from bench.harness.systems import Deployment, LABELS, ProductDeployment

POLL_INTERVAL_SECONDS = 0.005

MIB = 2**20


@dataclass(frozen=True)
class DrainWindow:
    """Monotonic times of one drain and the CPU snapshots taken at its start and end."""

    started: float
    first: float
    finished: float
    cpu_at_first: CpuSnapshot
    cpu_at_finished: CpuSnapshot


def config_name(system: str, processes: int, threads: int) -> str:
    if system == "celery":
        return f"{LABELS[system]} prefork {processes}"
    if system == "rq":
        return f"{LABELS[system]} SimpleWorker"
    return f"{LABELS[system]} {processes}x{threads}"


#: Plain Dramatiq's consumers fetch up to twice their thread count ahead. The
#: product's default is one message per thread (QUEUE_PREFETCH_PER_THREAD), so
#: the product drains that are compared with plain Dramatiq's run at its prefetch.
DRAMATIQ_PREFETCH = (("QUEUE_PREFETCH_PER_THREAD", "2"),)
#: The product's drain at its default prefetch, one message per thread.
DEFAULT_PREFETCH_SUFFIX = ", prefetch 1 per thread"


@dataclass(frozen=True)
class DrainConfig:
    """One worker command of the drain, with the environment it runs in.

    Celery and RQ take no thread count: Celery runs ``processes`` prefork
    processes, RQ one SimpleWorker.
    """

    system: str
    processes: int
    threads: int
    env: tuple[tuple[str, str], ...] = ()
    suffix: str = ""

    @property
    def row(self) -> str:
        return config_name(self.system, self.processes, self.threads) + self.suffix


CONFIGS = [
    DrainConfig("product", 1, 8, DRAMATIQ_PREFETCH),
    DrainConfig("product", 2, 8, DRAMATIQ_PREFETCH),
    DrainConfig("product", 2, 8, suffix=DEFAULT_PREFETCH_SUFFIX),
    DrainConfig("dramatiq", 1, 8),
    DrainConfig("dramatiq", 2, 8),
    DrainConfig("celery", 2, 0),
    DrainConfig("rq", 1, 0),
]


def measure_drain(
    bench: BenchRun,
    deployment: Deployment,
    processes: int,
    threads: int,
    *,
    jobs: int | None = None,
    wrap_command: Callable[[list[str]], list[str]] | None = None,
    stop_worker: Callable[[ManagedProcess], None] | None = None,
) -> dict:
    """Fill the queue, start the worker command, and time the drain (see the module docstring).

    ``jobs`` defaults to the run's job count. ``wrap_command`` turns the
    worker command into the command that the harness starts (a profiler
    that runs it), and the CPU and RSS figures then include the wrapping
    process. ``stop_worker`` runs before the usual stop (SIGTERM to the
    process group, then SIGKILL), which then kills what is left. Returns
    ``seconds``, ``startup_seconds``, ``jobs_per_second``, ``failed``,
    ``rss`` (peak bytes per process: a list of ``(role, bytes)``), ``cpu``
    (a ``CpuUsage``: CPU microseconds per job during the drain) and, for the
    product, ``records_seconds``: the time from the end of the drain until
    every job event was written into job records.

    Raises:
      TimeoutError: the drain took longer than the run's drain timeout.
      RuntimeError: the queue did not hold the N jobs, or the worker exited.
    """
    jobs = jobs or bench.settings.jobs
    timeout = bench.settings.drain_timeout(jobs)
    client = deployment.client()
    worker = sampler = None
    companions: list[ManagedProcess] = []
    try:
        if isinstance(deployment, ProductDeployment) and not bench.settings.smoke:
            # Every product drain starts from an empty job record table. A
            # smoke run keeps the rows: its scenarios run at the same time.
            clear_job_records(deployment.env["DATABASE_URL"])
        companions = start_companions(
            deployment, lambda name: bench.log_path(f"{deployment.system}-{name}")
        )
        bench.run_client(deployment, "fill", "--jobs", str(jobs), timeout=timeout)
        before = deployment.state(client, jobs)
        if before.waiting != jobs:
            raise RuntimeError(f"{deployment.system}: {before.waiting} jobs waiting after the fill, expected {jobs}.")
        if companions and _wait_for_records(deployment, client, time.monotonic(), timeout) is None:
            raise TimeoutError(f"{deployment.system}: the fill's job events were not written after {timeout:.0f} s.")
        command = deployment.worker_command(processes, threads)
        if wrap_command is not None:
            command = wrap_command(command)
        worker = ManagedProcess(
            command,
            deployment.env,
            bench.log_path(f"{deployment.system}-worker"),
        )
        sampler = RssSampler(worker.pid)
        sampler.start()
        meter = CpuMeter(
            worker.pid, [companion.pid for companion in companions], client, deployment.env.get("DATABASE_URL")
        )
        window = _poll_drain(deployment, client, worker, jobs, timeout, meter.snapshot)
        records_seconds = None
        if isinstance(deployment, ProductDeployment):
            records_seconds = _wait_for_records(deployment, client, window.finished)
        state = deployment.state(client, jobs)
        peaks = sampler.stop()
    finally:
        if sampler is not None:
            sampler.stop()
        if worker is not None:
            try:
                if stop_worker is not None:
                    stop_worker(worker)
            finally:
                worker.stop()
        for companion in companions:
            companion.stop()
        deployment.cleanup(client)
        client.close()
    seconds = window.finished - window.first
    return {
        "seconds": seconds,
        "startup_seconds": window.first - window.started,
        "jobs_per_second": jobs / seconds if seconds > 0 else float("inf"),
        "failed": state.failed,
        "records_seconds": records_seconds,
        "rss": [peak for peak in peaks.values()],
        "cpu": meter.usage(window.cpu_at_first, window.cpu_at_finished, jobs),
    }


def _poll_drain(
    deployment, client, worker, jobs: int, timeout: float, take_snapshot: Callable[[], CpuSnapshot]
) -> DrainWindow:
    """Poll the queue state until the drain ends, calling ``take_snapshot`` right after the start and end readings.

    A snapshot follows the reading that it belongs to, so its cost delays
    only the next reading and never moves ``first`` or ``finished``. The end
    snapshot is taken at the first of the two closing readings and taken
    again if the second one finds work.
    """
    started = time.monotonic()
    deadline = started + timeout
    first = candidate_end = None
    cpu_at_first = cpu_at_candidate_end = None
    while True:
        now = time.monotonic()
        state = deployment.state(client, jobs)
        if first is None and state.waiting < jobs:
            first = now
            cpu_at_first = take_snapshot()
        if first is not None and state.waiting == 0 and state.unfinished == 0:
            if candidate_end is not None:
                return DrainWindow(started, first, candidate_end, cpu_at_first, cpu_at_candidate_end)
            candidate_end = now
            cpu_at_candidate_end = take_snapshot()
        else:
            candidate_end = None
        if worker.process.poll() is not None:
            raise RuntimeError(
                f"{deployment.system} worker exited with {worker.process.returncode} during the drain; "
                f"see {worker.log_path}"
            )
        if now > deadline:
            raise TimeoutError(
                f"{deployment.system}: {state.waiting} waiting and {state.unfinished} unfinished jobs "
                f"after {timeout:.0f} s; see {worker.log_path}"
            )
        time.sleep(POLL_INTERVAL_SECONDS)


def _wait_for_records(deployment: ProductDeployment, client, finished: float, timeout: float = 60) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if deployment.events_waiting(client) == 0:
            return time.monotonic() - finished
        time.sleep(0.02)
    return None


def record_drain(bench: BenchRun, scenario: str, row: str, result: dict) -> None:
    bench.record(scenario, row, "jobs_per_second", result["jobs_per_second"])
    bench.record(scenario, row, "seconds", result["seconds"])
    bench.record(scenario, row, "startup_seconds", result["startup_seconds"])
    if result["records_seconds"] is not None:
        bench.record(scenario, row, "records_seconds", result["records_seconds"])
    if result["failed"]:
        bench.error(scenario, f"{row}: {result['failed']} jobs failed.")


def record_cpu(bench: BenchRun, row: str, usage: CpuUsage) -> None:
    """Record the CPU microseconds per job of each part as scenario ``drain_cpu``, leaving out absent parts."""
    parts = {
        "worker_us": usage.worker,
        "companions_us": usage.companions,
        "redis_us": usage.redis,
        "postgres_us": usage.postgres,
        "postgres_database_us": usage.postgres_database,
        "total_us": usage.total,
    }
    for metric, value in parts.items():
        if value is not None:
            bench.record("drain_cpu", row, metric, value)


def record_memory(bench: BenchRun, row: str, rss: list[tuple[str, int]]) -> None:
    main = [peak for role, peak in rss if role == "main"]
    children = [peak for role, peak in rss if role == "child"]
    bench.record("memory", row, "processes", len(rss))
    bench.record("memory", row, "main_mib", max(main) / MIB if main else 0.0)
    # The process that runs the jobs: a child where the main process forks
    # workers (Dramatiq, Celery prefork), else the main process (RQ).
    workers = children or main
    bench.record("memory", row, "worker_max_mib", max(workers) / MIB)
    bench.record("memory", row, "total_mib", sum(peak for _, peak in rss) / MIB)


#: The configurations a smoke run measures: one per system.
SMOKE_CONFIGS = [config for config in CONFIGS if (config.processes, config.threads) != (2, 8)]


def run(bench: BenchRun) -> None:
    configs = SMOKE_CONFIGS if bench.settings.smoke else CONFIGS
    for repeat in range(bench.settings.repeats):
        for config in configs:
            row = config.row
            progress(f"drain {repeat + 1}/{bench.settings.repeats}: {row}")
            try:
                deployment = bench.deploy(config.system, **dict(config.env))
                result = measure_drain(bench, deployment, config.processes, config.threads)
            except (RuntimeError, TimeoutError) as exc:
                bench.error("drain", f"{row}, repeat {repeat + 1}: {exc}")
                continue
            record_drain(bench, "drain", row, result)
            record_cpu(bench, row, result["cpu"])
            record_memory(bench, row, result["rss"])

