"""Enqueue throughput: N jobs sent one at a time, and N jobs sent in one bulk call.

One producer process per measurement and no worker running. The product
goes through ``JobActor.enqueue`` / ``enqueue_many`` with validation, the job
envelope, the idempotency claim and job record events. The peers use
``actor.send`` / ``group(...).run()`` (plain Dramatiq), ``task.delay`` /
``group(...).apply_async()`` (Celery) and ``Queue.enqueue`` /
``Queue.enqueue_many`` (RQ). Before the timed single sends, 100 untimed jobs
warm up connections and scripts. The bulk call is timed from the list of
payload dicts to its return, so it includes building each system's message
objects.

The product runs a second time without its tracking middleware, so without
the job record event and the send count that each send's script call writes.
That row shows what the job records add to a send that validates the
payload, builds the envelope and claims the idempotency key.
"""

from __future__ import annotations

from bench.harness.session import BenchRun, progress
from bench.harness.systems import LABELS, SYSTEMS

MODES = {"single": "enqueue_single", "bulk": "enqueue_bulk"}
WITHOUT_RECORDS = "Product without job records"
#: Report row, system and environment overrides of each measurement.
ROWS = [(LABELS[system], system, {}) for system in SYSTEMS] + [
    (WITHOUT_RECORDS, "product", {"DJANGO_SETTINGS_MODULE": "bench.settings_baseline"}),
]


def run(bench: BenchRun) -> None:
    jobs = bench.settings.jobs
    warmup = min(100, jobs)
    timeout = 120 + jobs / 20
    for mode, scenario in MODES.items():
        for repeat in range(bench.settings.repeats):
            for label, system, env in ROWS:
                progress(f"{scenario} {repeat + 1}/{bench.settings.repeats}: {label}")
                deployment = bench.deploy(system, **env)
                client = deployment.client()
                try:
                    result = bench.run_client(
                        deployment, "enqueue", "--jobs", str(jobs), "--mode", mode,
                        "--warmup", str(warmup), timeout=timeout,
                    )
                    waiting = deployment.state(client, jobs + warmup).waiting
                except (RuntimeError, TimeoutError) as exc:
                    bench.error(scenario, f"{label}, repeat {repeat + 1}: {exc}")
                    continue
                finally:
                    deployment.cleanup(client)
                    client.close()
                if waiting != jobs + warmup:
                    bench.error(
                        scenario,
                        f"{label}, repeat {repeat + 1}: {waiting} jobs in the queue, "
                        f"expected {jobs + warmup}.",
                    )
                    continue
                bench.record(scenario, label, "jobs_per_second", jobs / result["seconds"])
