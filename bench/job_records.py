"""Time the job list endpoints and admin pages with 1,000,000 job records.

The script creates a PostgreSQL database for the run and fills it with ROWS
job records in one ``INSERT … SELECT generate_series`` statement. The rows
spread over several queues, actors and statuses, and one in 1,000 is a dead
letter. After ANALYZE it requests each page REPEAT times through Django's test
client, with a read token or a superuser session, and prints the median and
the maximum in milliseconds. The database is dropped at the end.

Usage (from the repository root):

    REDIS_URL=redis://127.0.0.1:6379/0 \\
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    PYTHONPATH=$PWD python bench/job_records.py --rows 1000000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.harness.database import create_database, drop_database, fill_job_records  # noqa: E402


def _time_request(client, path: str, repeat: int, **headers) -> tuple[float, float, int]:
    timings, status = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path, **headers)
        timings.append((time.perf_counter() - started) * 1000)
        status = response.status_code
    return statistics.median(timings), max(timings), status


def _measure(rows: int, repeat: int) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from queueadmin.models import ApiToken, JobRecord, TokenScope

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        seconds = fill_job_records(cursor, rows)
    print(f"filled {rows} rows in {seconds:.1f} s")

    user = get_user_model().objects.create_superuser("bench", password="bench-pw")
    token = ApiToken(name="bench", user=user, scope=TokenScope.READ)
    raw_token = token.set_new_key()
    token.save()
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    admin = Client()
    admin.force_login(user)

    sample = JobRecord.objects.order_by("-id").values_list("job_id", "id", "correlation_id")[
        rows // 2
    ]
    job_id, middle_id, correlation_id = sample
    pages = [
        ("api", "/api/queues/jobs"),
        ("api", "/api/queues/jobs?limit=200"),
        ("api", f"/api/queues/jobs?cursor={middle_id}"),
        ("api", "/api/queues/jobs?status=dead"),
        ("api", "/api/queues/jobs?queue=emails&status=enqueued"),
        ("api", "/api/queues/jobs?actor=send_email"),
        ("api", f"/api/queues/jobs?correlation_id={correlation_id}"),
        ("api", f"/api/queues/jobs/{job_id}"),
        ("api", "/api/queues/dead-letters"),
        ("api", "/api/queues/health"),
        ("api", "/api/queues/metrics"),
        ("admin", "/admin/queueadmin/jobrecord/"),
        ("admin", "/admin/queueadmin/jobrecord/?p=50"),
        ("admin", "/admin/queueadmin/jobrecord/?status=dead"),
        ("admin", "/admin/queueadmin/jobrecord/?queue=emails&status=cancelled"),
        ("admin", f"/admin/queueadmin/jobrecord/?q={job_id}"),
        ("admin", "/admin/queueadmin/deadletter/"),
        ("admin", "/admin/queueadmin/queueoverview/"),
    ]
    print(f"{'page':<66}{'median ms':>10}{'max ms':>9}{'status':>7}")
    for kind, path in pages:
        client = api if kind == "api" else admin
        median, worst, status = _time_request(client, path, repeat)
        print(f"{path:<66}{median:>10.1f}{worst:>9.1f}{status:>7}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="Job records to create.")
    parser.add_argument("--repeat", type=int, default=5, help="Requests per page.")
    parser.add_argument("--child-database", help=argparse.SUPPRESS)
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL server, for example postgres://postgres@127.0.0.1:5432/postgres.")

    if args.child_database:
        _measure(args.rows, args.repeat)
        return
    import subprocess

    name = f"bench_job_records_{uuid.uuid4().hex[:8]}"
    env = dict(
        os.environ,
        DATABASE_URL=create_database(base_url, name),
        DJANGO_SETTINGS_MODULE="bench.settings_recording",
        QUEUE_REDIS_NAMESPACE=f"bench-{uuid.uuid4().hex[:8]}",
        PYTHONPATH=str(BASE_DIR),
    )
    try:
        subprocess.run(
            [sys.executable, __file__, "--rows", str(args.rows), "--repeat", str(args.repeat),
             "--child-database", name],
            cwd=BASE_DIR, env=env, check=True,
        )
    finally:
        drop_database(base_url, name)


if __name__ == "__main__":
    main()
