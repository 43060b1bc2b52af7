"""Request and response schemas of the queue administration API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import ModelSchema, Schema
from pydantic import Field

from queueadmin.models import JobRecord

#: Largest page of the job and dead-letter lists.
MAX_PAGE_SIZE = 200


class JobOut(ModelSchema):
    class Meta:
        model = JobRecord
        fields = [
            "id",
            "job_id",
            "actor",
            "queue",
            "status",
            "priority",
            "idempotency_key",
            "correlation_id",
            "user_id",
            "attempts",
            "enqueued_at",
            "eta",
            "started_at",
            "finished_at",
            "updated_at",
            "wait_ms",
            "duration_ms",
            "next_retry_delay_ms",
            "progress",
            "progress_message",
            "result_summary",
            "last_error",
        ]


class JobDetailOut(JobOut):
    payload: Any
    options: dict[str, Any]
    traceback: str


class JobPage(Schema):
    items: list[JobOut]
    #: Pass as ``cursor`` to get the next page; null on the last page.
    next_cursor: int | None


class QueueHealthOut(Schema):
    waiting: int
    oldest_waiting_age_seconds: float | None
    live_workers: int
    paused: bool


class HealthOut(Schema):
    status: str
    reasons: list[str]
    redis_reachable: bool
    redis_rtt_ms: float | None
    queues: dict[str, QueueHealthOut]
    dead_letters: int
    dead_letters_last_15_minutes: int
    outbox_size: int
    paused_queues: list[str]


class Percentiles(Schema):
    p50: float | None
    p95: float | None
    p99: float | None


class Throughput(Schema):
    last_1_minutes: int
    last_5_minutes: int
    last_15_minutes: int


class QueueMetricsOut(Schema):
    waiting: int
    delayed: int
    running: int
    succeeded: int
    failed: int
    dead: int
    throughput: Throughput
    wait_ms: Percentiles
    processing_ms: Percentiles
    failure_rate: float


class QueueStateOut(Schema):
    queue: str
    paused: bool
    changed: bool


class AllQueuesStateOut(Schema):
    paused_queues: list[str]
    changed: list[str]


class CleanIn(Schema):
    older_than_seconds: int = Field(ge=0, description="Age in seconds of the records to delete.")
    include_dead_letters: bool = True


class CleanOut(Schema):
    job_records: int
    dead_letters: int


class DeadLetterRetryIn(Schema):
    queue: str | None = None
    actor: str | None = None


class DeadLetterRetryOut(Schema):
    retried: int
    job_ids: list[str]


class ScheduleOut(Schema):
    name: str
    actor: str
    arguments: dict[str, Any]
    cron: str
    timezone: str
    enabled: bool
    misfire_policy: str
    grace_seconds: int
    defined_in_code: bool
    next_runs: list[datetime] = Field(
        description="The next fire times in UTC, or none for a disabled schedule."
    )
    last_fire_at: datetime | None = Field(description="The latest fire time handled (UTC).")
    last_run_at: datetime | None = Field(description="When the latest job was enqueued.")
    last_lag_seconds: float | None = Field(description="Enqueue time minus fire time.")
    last_job_id: str
    missed_count: int
    last_missed_at: datetime | None


class ErrorOut(Schema):
    detail: str
