"""PostgreSQL databases of a benchmark run and the bulk fill of job records."""

from __future__ import annotations

import time
import uuid

#: Inserts ``rows`` job records in one statement. The rows spread over several
#: queues, actors and statuses, one in 1,000 is a dead letter, and the
#: enqueue times are one second apart, ending now.
FILL_SQL = """
INSERT INTO queueadmin_jobrecord (
    job_id, actor, queue, status, priority, idempotency_key, correlation_id, user_id,
    payload, options, broker_message_id, attempts, enqueued_at, eta, started_at,
    finished_at, updated_at, status_changed_at, wait_ms, duration_ms, next_retry_delay_ms,
    progress, progress_message, result_summary, last_error, traceback
)
SELECT
    md5(n::text || %(salt)s)::uuid::text,
    (ARRAY['process_meeting','analyze_meeting','send_email','sync_calendar'])[1 + n %% 4],
    (ARRAY['meetings','meetings','emails','external_api'])[1 + n %% 4],
    CASE WHEN n %% 1000 = 0 THEN 'dead' WHEN n %% 97 = 0 THEN 'enqueued'
         WHEN n %% 101 = 0 THEN 'cancelled' ELSE 'succeeded' END,
    0, md5(n::text), 'corr-' || (n / 10)::text, '',
    jsonb_build_object('meeting_id', n), '{}'::jsonb, '', 1,
    now() - make_interval(secs => %(rows)s - n), NULL,
    now() - make_interval(secs => %(rows)s - n),
    now() - make_interval(secs => %(rows)s - n),
    now(), now(), 5, 20, NULL, 100, '', '', '', ''
FROM generate_series(1, %(rows)s) AS n
"""


def is_postgres(url: str | None) -> bool:
    return bool(url) and url.startswith(("postgres://", "postgresql://"))


def create_database(base_url: str, name: str) -> str:
    """Create the database ``name`` on the server of ``base_url`` and return its URL."""
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return base_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(base_url: str, name: str) -> None:
    """Drop the database ``name``, closing its connections first."""
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fill_job_records(cursor, rows: int) -> float:
    """Insert ``rows`` job records with ``FILL_SQL``, analyse the table and return the seconds taken."""
    started = time.perf_counter()
    cursor.execute(FILL_SQL, {"rows": rows, "salt": uuid.uuid4().hex})
    cursor.execute("ANALYZE queueadmin_jobrecord")
    return time.perf_counter() - started


def clear_job_records(url: str) -> None:
    """Delete every job record in the database of ``url`` (PostgreSQL or a ``sqlite:///`` file)."""
    if is_postgres(url):
        import psycopg

        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("TRUNCATE queueadmin_jobrecord")
        return
    import sqlite3

    connection = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
    try:
        with connection:
            connection.execute("DELETE FROM queueadmin_jobrecord")
    finally:
        connection.close()
