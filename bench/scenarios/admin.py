"""Queue administration endpoints with many waiting jobs and job records (PostgreSQL only).

A database created for the scenario gets ``admin_records`` job records
(``FILL_SQL``) and the product's Redis namespace gets ``admin_waiting``
waiting jobs. Then ``bench.clients.admin_endpoints`` requests health,
metrics and job list pages (first, middle and deep cursor, and a status
filter) through Django's test client, without an HTTP server in between.
Each repeat is one round of ``admin_requests`` requests per endpoint, and
yields that round's p50 and p95.
"""

from __future__ import annotations

from bench.harness.database import create_database, drop_database, is_postgres
from bench.harness.processes import python_command, run_json_child
from bench.harness.session import BenchRun, progress
from bench.harness.stats import percentile


def run(bench: BenchRun) -> None:
    base_url = bench.context.database_url
    if not is_postgres(base_url):
        bench.note(
            "admin",
            "Skipped: this scenario needs DATABASE_URL to name a PostgreSQL server "
            "(it fills the job records with generate_series).",
        )
        return

    settings = bench.settings
    name = f"bench_admin_{bench.context.run_id}"
    deployment = bench.deploy("product")
    client = deployment.client()
    progress(f"admin endpoints: {settings.admin_records} records, {settings.admin_waiting} waiting jobs")
    try:
        deployment.env["DATABASE_URL"] = create_database(base_url, name)
        result = run_json_child(
            python_command(
                "-m", "bench.clients.admin_endpoints",
                "--records", str(settings.admin_records), "--waiting", str(settings.admin_waiting),
                "--requests", str(settings.admin_requests), "--rounds", str(settings.repeats),
            ),
            deployment.env,
            bench.log_path("admin-endpoints"),
            timeout=900,
        )
    except (RuntimeError, TimeoutError, OSError) as exc:
        bench.error("admin", str(exc))
        return
    finally:
        deployment.cleanup(client)
        client.close()
        drop_database(base_url, name)

    bench.extra["admin"] = {
        "fill_seconds": result["fill_seconds"],
        "enqueue_seconds": result["enqueue_seconds"],
        "paths": result["paths"],
    }
    _record_rounds(bench, result["rounds"])


def _record_rounds(bench: BenchRun, rounds: list[dict]) -> None:
    unhealthy: set[int] = set()
    for round_result in rounds:
        for endpoint, timings in round_result["timings_ms"].items():
            bench.record("admin", endpoint, "p50_ms", percentile(timings, 50))
            bench.record("admin", endpoint, "p95_ms", percentile(timings, 95))

            statuses = round_result["statuses"][endpoint]
            if endpoint == "health" and 503 in statuses:
                # With waiting jobs and no live worker the health is "unhealthy",
                # which the endpoint reports with 503: a correct, timed response.
                unhealthy.add(statuses.count(503))
                statuses = [status for status in statuses if status != 503]
            failed = [status for status in statuses if status >= 400]
            if failed:
                bench.error("admin", f"{endpoint}: HTTP status {failed[0]} in {len(failed)} requests.")

    if unhealthy:
        bench.note(
            "admin",
            "health answered 503 (unhealthy: jobs wait and no worker runs) in up to "
            f"{max(unhealthy)} of the {bench.settings.admin_requests} requests per round.",
        )
