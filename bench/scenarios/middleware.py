"""Per-middleware cost: the product's drain (1x8) with one middleware left out at a time.

Each of the product's own middleware (the ``queueadmin.*`` entries of
``DRAMATIQ_BROKER["MIDDLEWARE"]``) is left out in turn through
``QUEUE_DISABLED_MIDDLEWARE``, and once all of them together. The jobs are
sent with the full list in every variant, so only the worker differs. The
cost of a middleware is ``(median drain time with all - median drain time
without it) / N``, in microseconds per job, where N is the run's
``middleware_jobs`` (fewer than the other drains: this scenario runs over
a dozen variants). A negative cost is noise: the
variant happened to run slower.
"""

from __future__ import annotations

import statistics

from bench.harness.processes import python_command, run_json_child
from bench.harness.session import BenchRun, progress
from bench.scenarios.drain import measure_drain

FULL = "all middleware"
NONE_OF_THEM = "without all that can be left out"

#: The single-middleware variants a smoke run measures, besides the full list.
SMOKE_VARIANTS = 1


def product_middleware(bench: BenchRun) -> list[dict]:
    """Return the product's own middleware (``queueadmin.*``) as ``bench.clients.middleware_list`` lists them."""
    deployment = bench.deploy("product")
    entries = run_json_child(
        python_command("-m", "bench.clients.middleware_list"),
        deployment.env,
        bench.log_path("middleware-list"),
        timeout=120,
    )
    return [entry for entry in entries if entry["path"].startswith("queueadmin.")]


def variants(bench: BenchRun) -> dict[str, str]:
    """Return ``QUEUE_DISABLED_MIDDLEWARE`` values by variant name; note the middleware left in."""
    entries = product_middleware(bench)
    optional = []
    for entry in entries:
        name = entry["path"].rsplit(".", 1)[-1]
        if entry["needed_by_actors"]:
            bench.note(
                "middleware",
                f"{name} stays in every variant: it defines the actor option(s) "
                f"{', '.join(entry['needed_by_actors'])}, which declared actors set.",
            )
        else:
            optional.append(entry["path"])
    chosen = optional[:SMOKE_VARIANTS] if bench.settings.smoke else optional
    if len(chosen) < len(optional):
        bench.note("middleware", f"Smoke run: {len(chosen)} of {len(optional)} single-middleware variants.")
    result = {FULL: ""}
    for path in chosen:
        result[f"without {path.rsplit('.', 1)[-1]}"] = path
    if not bench.settings.smoke:
        result[NONE_OF_THEM] = ",".join(optional)
    return result


def run(bench: BenchRun) -> None:
    measured = variants(bench)
    for repeat in range(bench.settings.repeats):
        for name, disabled in measured.items():
            progress(f"middleware {repeat + 1}/{bench.settings.repeats}: {name}")
            deployment = bench.deploy("product", QUEUE_DISABLED_MIDDLEWARE=disabled)
            try:
                result = measure_drain(bench, deployment, 1, 8, jobs=bench.settings.middleware_jobs)
            except (RuntimeError, TimeoutError) as exc:
                bench.error("middleware", f"{name}, repeat {repeat + 1}: {exc}")
                continue
            bench.record("middleware", name, "seconds", result["seconds"])
            bench.record("middleware", name, "jobs_per_second", result["jobs_per_second"])
            if result["failed"]:
                bench.error("middleware", f"{name}, repeat {repeat + 1}: {result['failed']} jobs failed.")


def costs(results: dict[str, dict[str, list[float]]], jobs: int) -> dict[str, float]:
    """Return each variant's cost in microseconds per job, from the median drain times."""
    if FULL not in results:
        return {}
    full = statistics.median(results[FULL]["seconds"])
    return {
        name: (full - statistics.median(values["seconds"])) / jobs * 1e6
        for name, values in results.items()
        if name != FULL and values.get("seconds")
    }
