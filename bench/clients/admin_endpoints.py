"""Time the queue administration endpoints with many waiting jobs and job records.

Run by ``bench.run`` in a process whose ``DATABASE_URL`` names an empty
PostgreSQL database created for it::

    python -m bench.clients.admin_endpoints --records 1000000 --waiting 100000 \\
        --requests 20 --rounds 3

It migrates, fills the job records with ``FILL_SQL``, sends the waiting jobs
with ``enqueue_many`` (no worker runs, so they stay waiting) and requests each
endpoint through Django's test client with a read token. The result (one JSON
object on the last stdout line) has, per round and endpoint, the response
times in milliseconds and the status codes.
"""

from __future__ import annotations

import argparse
import json
import time


def _endpoints(records: int) -> dict[str, str]:
    from queueadmin.models import JobRecord

    ids = JobRecord.objects.order_by("-id").values_list("id", flat=True)
    newest = ids.first()
    oldest = ids.last()
    middle = newest - (newest - oldest) // 2
    # A cursor 100 rows above the oldest record: the last page a client reaches.
    deep = oldest + min(100, max(1, records // 10))
    return {
        "health": "/api/queues/health",
        "metrics": "/api/queues/metrics",
        "jobs first page": "/api/queues/jobs",
        "jobs middle page": f"/api/queues/jobs?cursor={middle}",
        "jobs deep page": f"/api/queues/jobs?cursor={deep}",
        "jobs status=dead": "/api/queues/jobs?status=dead",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, required=True, help="job records to insert")
    parser.add_argument("--waiting", type=int, required=True, help="waiting jobs to send")
    parser.add_argument("--requests", type=int, default=20, help="requests per endpoint and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all endpoints")
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from bench.harness.database import fill_job_records
    from bench.tasks import noop_job
    from queueadmin.models import ApiToken, TokenScope

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        fill_seconds = fill_job_records(cursor, args.records)
    started = time.perf_counter()
    for first in range(0, args.waiting, 10_000):
        count = min(10_000, args.waiting - first)
        noop_job.enqueue_many(
            [{"index": first + i, "label": "waiting", "tag": "t1"} for i in range(count)]
        )
    enqueue_seconds = time.perf_counter() - started

    user = get_user_model().objects.create_user("bench-reader", is_staff=True)
    token = ApiToken(name="bench", user=user, scope=TokenScope.READ)
    raw_token = token.set_new_key()
    token.save()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_token}")

    endpoints = _endpoints(args.records)
    rounds = []
    for _ in range(args.rounds):
        timings: dict[str, list[float]] = {}
        statuses: dict[str, list[int]] = {}
        for name, path in endpoints.items():
            for _ in range(args.requests):
                request_started = time.perf_counter()
                response = client.get(path)
                timings.setdefault(name, []).append((time.perf_counter() - request_started) * 1000)
                statuses.setdefault(name, []).append(response.status_code)
        rounds.append({"timings_ms": timings, "statuses": statuses})
    result = {
        "fill_seconds": fill_seconds,
        "enqueue_seconds": enqueue_seconds,
        "paths": endpoints,
        "rounds": rounds,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
