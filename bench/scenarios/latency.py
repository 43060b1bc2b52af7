"""Latency from the enqueue call to the job's start on an idle worker.

Each system runs one worker (the product and plain Dramatiq 1x8, Celery
prefork 2, RQ SimpleWorker). A producer process sends probes one at a time:
it notes ``time.time()`` just before the enqueue call, and the job appends its
own ``time.time()`` at start to a Redis list, which the producer waits on with
BLPOP. Latency is the difference.

- back-to-back: each probe is sent as soon as the previous one started. The
  systems take turns, one producer at a time.
- idle: each probe is sent at least ``idle_seconds`` (1 s) after the previous
  one started, so the worker has been idle that long. To keep the run short,
  the four producers run at once, each with its own time slots a quarter of
  a period apart. Probes of different systems overlap only when a probe
  starts so late that it shifts its system's later probes.

Every producer first sends untimed probes and waits for them, which also
waits until its worker takes jobs.

After the back-to-back turns of the four systems, the product is measured
back to back once more without job records. That worker runs on
``bench.settings_baseline``, which leaves out the tracking middleware, with
no record writer beside it, and only for that turn.
"""

from __future__ import annotations

import threading
import time

from bench.harness.processes import ManagedProcess, start_companions
from bench.harness.session import BenchRun, progress
from bench.harness.stats import percentile
from bench.harness.systems import LABELS, SYSTEMS
from bench.scenarios.enqueue import WITHOUT_RECORDS

WORKER_CONFIGS = {"product": (1, 8), "dramatiq": (1, 8), "celery": (2, 0), "rq": (1, 0)}
PERCENTILES = (50, 95, 99)
#: The product's settings without the tracking middleware, and no record writer beside the worker.
WITHOUT_RECORDS_ENV = {"DJANGO_SETTINGS_MODULE": "bench.settings_baseline", "QUEUE_RECORD_WRITER": "worker"}


def _record(bench: BenchRun, scenario: str, row: str, latencies: list[float]) -> None:
    for percent in PERCENTILES:
        bench.record(scenario, row, f"p{percent}_ms", percentile(latencies, percent))


def _back_to_back(bench: BenchRun, deployment, row: str, repeat: int) -> None:
    settings = bench.settings
    progress(f"latency back-to-back {repeat + 1}/{settings.repeats}: {row}")
    try:
        result = bench.run_client(
            deployment, "latency", "--mode", "back-to-back",
            "--probes", str(settings.latency_probes), "--warmup", "3",
            timeout=120 + settings.latency_probes,
        )
    except (RuntimeError, TimeoutError) as exc:
        bench.error("latency_back_to_back", f"{row}, repeat {repeat + 1}: {exc}")
        return
    _record(bench, "latency_back_to_back", row, result["latencies_ms"])


def _back_to_back_without_records(bench: BenchRun, repeat: int) -> None:
    deployment = bench.deploy("product", **WITHOUT_RECORDS_ENV)
    processes, threads = WORKER_CONFIGS["product"]
    worker = ManagedProcess(
        deployment.worker_command(processes, threads),
        deployment.env,
        bench.log_path("product-without-records-latency-worker"),
    )
    try:
        _back_to_back(bench, deployment, WITHOUT_RECORDS, repeat)
    finally:
        worker.stop()
        client = deployment.client()
        deployment.cleanup(client)
        client.close()


def _idle_round(bench: BenchRun, deployments: dict, repeat: int) -> None:
    settings = bench.settings
    period = settings.idle_seconds + 0.05
    start_at = time.time() + 10
    results: dict[str, list[float]] = {}
    errors: dict[str, Exception] = {}
    timeout = 60 + 10 + settings.latency_probes * (period + 1)

    def produce(offset: int, system: str) -> None:
        try:
            result = bench.run_client(
                deployments[system], "latency", "--mode", "idle",
                "--probes", str(settings.latency_probes), "--warmup", "1",
                "--start-at", str(start_at + offset * period / len(deployments)),
                "--idle-seconds", str(settings.idle_seconds), timeout=timeout,
            )
            results[system] = result["latencies_ms"]
        except (RuntimeError, TimeoutError) as exc:
            errors[system] = exc

    threads = [
        threading.Thread(target=produce, args=(offset, system), daemon=True)
        for offset, system in enumerate(deployments)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + 30)
    for system, exc in errors.items():
        bench.error("latency_idle", f"{LABELS[system]}, repeat {repeat + 1}: {exc}")
    for system, latencies in results.items():
        _record(bench, "latency_idle", LABELS[system], latencies)


def run(bench: BenchRun) -> None:
    settings = bench.settings
    for repeat in range(settings.repeats):
        progress(f"latency {repeat + 1}/{settings.repeats}: starting the workers")
        deployments = {system: bench.deploy(system) for system in SYSTEMS}
        workers: list[ManagedProcess] = []
        try:
            for system, deployment in deployments.items():
                processes, threads = WORKER_CONFIGS[system]
                workers.append(
                    ManagedProcess(
                        deployment.worker_command(processes, threads),
                        deployment.env,
                        bench.log_path(f"{system}-latency-worker"),
                    )
                )
                workers += start_companions(
                    deployment, lambda name, system=system: bench.log_path(f"{system}-latency-{name}")
                )
            for system, deployment in deployments.items():
                _back_to_back(bench, deployment, LABELS[system], repeat)
            _back_to_back_without_records(bench, repeat)
            progress(f"latency idle {repeat + 1}/{settings.repeats}: all systems, staggered")
            _idle_round(bench, deployments, repeat)
        finally:
            for worker in workers:
                worker.stop()
            for deployment in deployments.values():
                client = deployment.client()
                deployment.cleanup(client)
                client.close()
