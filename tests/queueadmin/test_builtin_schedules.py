"""Built-in schedules: declared from settings, run by real workers, listed by the API."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from queueadmin.firing import fire_schedule, list_schedules
from queueadmin.models import JobCompletion, JobRecord, JobStatus, OutboxMessage, Schedule
from queueadmin.outbox import outbox_size
from queueadmin.records import apply_events
from queueadmin.schedules import get_code_schedules, sync_code_schedules
from queueadmin.tasks import CLEAN_UP_SCHEDULE, OUTBOX_RELAY_SCHEDULE, register_builtin_schedules
from tests.brokers import actors_on, build_project_broker
from tests.queueadmin.conftest import API, bearer, record_with_status
from tests.testapp.models import Execution
from tests.testapp.tasks import record_once

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def builtin_settings(settings):
    """The ``settings`` fixture, after which the built-ins are declared again from the defaults."""
    yield settings
    settings.SCHEDULER_CLEAN_UP_CRON = "30 3 * * *"
    settings.SCHEDULER_OUTBOX_RELAY_CRON = "* * * * *"
    register_builtin_schedules()


def _fire(name: str) -> str:
    sync_code_schedules()
    schedule = Schedule.objects.get(name=name)
    fire_time = timezone.now().replace(second=0, microsecond=0)
    job_id = fire_schedule(schedule, fire_time)
    assert job_id is not None
    return job_id


def test_builtins_declared_with_setting_crons(broker, settings):
    specs = {spec.name: spec for spec in get_code_schedules()}

    assert specs[CLEAN_UP_SCHEDULE].cron == settings.SCHEDULER_CLEAN_UP_CRON
    assert specs[CLEAN_UP_SCHEDULE].actor_name == "clean_up_queue_records"
    assert specs[OUTBOX_RELAY_SCHEDULE].cron == settings.SCHEDULER_OUTBOX_RELAY_CRON
    assert specs[OUTBOX_RELAY_SCHEDULE].actor_name == "relay_outbox"
    assert specs[OUTBOX_RELAY_SCHEDULE].timezone == "UTC"


def test_builtins_in_schedule_list(broker):
    sync_code_schedules()

    listed = {info.name: info for info in list_schedules()}

    for name in (CLEAN_UP_SCHEDULE, OUTBOX_RELAY_SCHEDULE):
        assert listed[name].defined_in_code is True
        assert listed[name].enabled is True
        assert len(listed[name].next_runs) == 3
    relay_runs = listed[OUTBOX_RELAY_SCHEDULE].next_runs
    assert relay_runs[1] - relay_runs[0] == timedelta(minutes=1)


def test_empty_cron_deletes_builtin_row(broker, builtin_settings):
    sync_code_schedules()
    Schedule(name="made-in-admin", actor="note_job", arguments={"key": "a"}, cron="0 0 * * *").save()
    builtin_settings.SCHEDULER_OUTBOX_RELAY_CRON = ""

    declared = register_builtin_schedules()
    sync_code_schedules()

    assert [spec.name for spec in declared] == [CLEAN_UP_SCHEDULE]
    names = set(Schedule.objects.values_list("name", flat=True))
    assert OUTBOX_RELAY_SCHEDULE not in names
    assert CLEAN_UP_SCHEDULE in names
    assert "made-in-admin" in names


def test_changed_cron_rewrites_builtin_row(broker, builtin_settings):
    sync_code_schedules()
    builtin_settings.SCHEDULER_CLEAN_UP_CRON = "0 4 * * 0"

    register_builtin_schedules()
    sync_code_schedules()

    assert Schedule.objects.get(name=CLEAN_UP_SCHEDULE).cron == "0 4 * * 0"


def _add_records(now: float) -> None:
    old, recent = now - 7200, now - 60
    events = []
    for job_id, finished, status in [
        ("old-ok", old, "succeeded"),
        ("recent-ok", recent, "succeeded"),
        ("old-dead", old, "dead"),
        ("recent-dead", recent, "dead"),
        ("old-waiting", None, ""),
    ]:
        base = {"job": job_id, "actor": "counted_job", "queue": "emails"}
        events.append({**base, "kind": "enqueued", "ts": old - 10})
        if status == "succeeded":
            events.append({**base, "kind": "succeeded", "ts": finished})
        if status == "dead":
            events.append({**base, "kind": "failed", "ts": finished, "dead": True})
    apply_events(events)


def _add_completions() -> None:
    now = timezone.now()
    for actor, key, age in [
        ("record_once", "two-days-old", timedelta(days=2)),
        ("record_once", "one-minute-old", timedelta(minutes=1)),
        # short_ttl_job declares idempotency_ttl=5 (seconds).
        ("short_ttl_job", "one-minute-old", timedelta(minutes=1)),
    ]:
        JobCompletion.objects.create(
            actor=actor, idempotency_key=key, job_id=f"{actor}-{key}", completed_at=now - age
        )


def test_clean_up_job_deletes_old_rows(worker_factory):
    _add_records(time.time())
    _add_completions()
    worker = worker_factory(
        queues=["emails"],
        QUEUE_JOB_RECORD_RETENTION_SECONDS="3600",
        QUEUE_DEAD_LETTER_RETENTION_SECONDS="3600",
    )

    job_id = _fire(CLEAN_UP_SCHEDULE)

    record = record_with_status(job_id, JobStatus.SUCCEEDED)
    assert record.idempotency_key.startswith(f"schedule:{CLEAN_UP_SCHEDULE}:")
    assert record.result_summary == "CleanResult(job_records=1, dead_letters=1, completions=2)"
    remaining = set(JobRecord.objects.values_list("job_id", flat=True))
    assert remaining == {"recent-ok", "recent-dead", "old-waiting", job_id}
    kept_completions = list(JobCompletion.objects.values_list("actor", "idempotency_key"))
    assert kept_completions == [("record_once", "one-minute-old")]
    worker.wait_for_line(
        "Clean-up deleted 1 job records, 1 dead letters and 2 completion markers", timeout=10
    )


def test_outbox_relay_job_sends_stored_job(private_redis, worker_factory):
    with actors_on(build_project_broker(private_redis.url), record_once):
        stored = record_once.enqueue(key="relayed-by-schedule")
    assert OutboxMessage.objects.filter(job_id=stored).exists()
    # The workers' own relay thread waits an hour, so only the scheduled job relays.
    worker = worker_factory(QUEUE_OUTBOX_RELAY_INTERVAL_SECONDS="3600")

    job_id = _fire(OUTBOX_RELAY_SCHEDULE)

    record = record_with_status(job_id, JobStatus.SUCCEEDED)
    assert record.result_summary == "RelayResult(sent=1, duplicates=0, remaining=0)"
    record_with_status(stored, JobStatus.SUCCEEDED)
    assert outbox_size() == 0
    assert Execution.objects.filter(key="relayed-by-schedule").count() == 1
    worker.wait_for_line(
        "Outbox relay sent 1 jobs, dropped 0 duplicates and left 0 in the outbox", timeout=10
    )


def test_schedule_routes_list_builtins(broker, api_client, read_token):
    job_id = _fire(CLEAN_UP_SCHEDULE)

    listed = api_client.get(f"{API}/schedules", **bearer(read_token))
    single = api_client.get(
        f"{API}/schedules/{CLEAN_UP_SCHEDULE}", {"next_runs": 5}, **bearer(read_token)
    )

    assert listed.status_code == 200
    names = [item["name"] for item in listed.json()]
    assert names == sorted(names)
    assert {CLEAN_UP_SCHEDULE, OUTBOX_RELAY_SCHEDULE} <= set(names)
    assert single.status_code == 200
    body = single.json()
    assert body["actor"] == "clean_up_queue_records"
    assert body["defined_in_code"] is True
    assert len(body["next_runs"]) == 5
    assert body["last_job_id"] == job_id
    assert body["last_lag_seconds"] >= 0
    assert body["last_run_at"] is not None


def test_schedule_route_unknown_404(broker, api_client, read_token):
    response = api_client.get(f"{API}/schedules/no-such-schedule", **bearer(read_token))

    assert response.status_code == 404
    assert "no-such-schedule" in response.json()["detail"]


@pytest.mark.parametrize("value", ["0", "51", "many"])
def test_schedule_route_invalid_next_runs_422(broker, api_client, read_token, value):
    response = api_client.get(f"{API}/schedules", {"next_runs": value}, **bearer(read_token))

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "next_runs"
