"""Firing schedules: locks, idempotency keys, catch-up after downtime, validation."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.core.exceptions import ValidationError

from queueadmin.firing import catch_up, fire_schedule, list_schedules
from queueadmin.models import JobRecord, MisfirePolicy, Schedule
from queueadmin.records import flush_job_events
from queueadmin.schedules import get_code_schedules, sync_code_schedules

pytestmark = pytest.mark.django_db(transaction=True)

UTC = timezone.utc
NOW = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)


def _schedule(**fields) -> Schedule:
    values = {
        "name": "every-minute",
        "actor": "note_job",
        "arguments": {"key": "tick"},
        "cron": "* * * * *",
        "timezone": "UTC",
        "grace_seconds": 300,
    }
    values.update(fields)
    schedule = Schedule(**values)
    schedule.save()
    return schedule


def test_fire_enqueues_once_per_tick(broker):
    schedule = _schedule()
    fire_time = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    first = fire_schedule(schedule, fire_time, now=NOW)
    second = fire_schedule(schedule, fire_time, now=NOW)

    assert first is not None
    assert second is None
    flush_job_events(wait=True)
    record = JobRecord.objects.get(job_id=first)
    assert record.idempotency_key == "schedule:every-minute:2026-06-01T12:00:00+00:00"
    schedule.refresh_from_db()
    assert schedule.last_fire_at == fire_time
    assert schedule.last_lag_seconds == 30.0
    assert schedule.last_job_id == first


def test_catch_up_coalesces_within_grace(broker):
    schedule = _schedule(last_fire_at=NOW - timedelta(minutes=10, seconds=30))

    job_id = catch_up(schedule, NOW)

    assert job_id is not None
    flush_job_events(wait=True)
    assert JobRecord.objects.count() == 1
    schedule.refresh_from_db()
    assert schedule.last_fire_at == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert schedule.missed_count == 9
    assert schedule.last_missed_at == datetime(2026, 6, 1, 11, 59, tzinfo=UTC)


def test_catch_up_beyond_grace_records_missed(broker):
    schedule = _schedule(cron="0 * * * *", last_fire_at=NOW - timedelta(hours=5))

    job_id = catch_up(schedule, NOW + timedelta(minutes=30))

    assert job_id is None
    flush_job_events(wait=True)
    assert JobRecord.objects.count() == 0
    schedule.refresh_from_db()
    assert schedule.missed_count == 5
    assert schedule.last_fire_at == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_catch_up_skip_policy_fires_nothing(broker):
    schedule = _schedule(
        misfire_policy=MisfirePolicy.SKIP, last_fire_at=NOW - timedelta(minutes=3, seconds=30)
    )

    assert catch_up(schedule, NOW) is None
    schedule.refresh_from_db()
    assert schedule.missed_count == 3
    flush_job_events(wait=True)
    assert JobRecord.objects.count() == 0


def test_catch_up_counts_missed_once(broker):
    schedule = _schedule(last_fire_at=NOW - timedelta(minutes=5, seconds=30))
    stale_copy = Schedule.objects.get(pk=schedule.pk)

    catch_up(schedule, NOW)
    catch_up(stale_copy, NOW)

    schedule.refresh_from_db()
    assert schedule.missed_count == 4
    flush_job_events(wait=True)
    assert JobRecord.objects.count() == 1


def test_new_schedule_has_nothing_to_catch_up(broker):
    schedule = _schedule()

    assert catch_up(schedule, NOW) is None
    flush_job_events(wait=True)
    assert JobRecord.objects.count() == 0


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"cron": "every day"}, "cron"),
        ({"timezone": "Europe/Nowhere"}, "timezone"),
        ({"actor": "no_such_actor"}, "actor"),
        ({"arguments": {"seconds": "x"}}, "arguments"),
    ],
)
def test_invalid_schedule_rejected_on_save(fields, error_field):
    with pytest.raises(ValidationError) as caught:
        _schedule(**fields)
    assert error_field in caught.value.message_dict
    assert Schedule.objects.count() == 0


def test_list_schedules_shows_next_runs_and_lag(broker):
    schedule = _schedule(cron="30 2 * * *", timezone="Europe/Berlin")
    fire_schedule(schedule, datetime(2026, 6, 1, 0, 30, tzinfo=UTC), now=NOW)

    (info,) = [item for item in list_schedules(now=NOW) if item.name == "every-minute"]

    assert info.next_runs == [
        datetime(2026, 6, 2, 0, 30, tzinfo=UTC),
        datetime(2026, 6, 3, 0, 30, tzinfo=UTC),
        datetime(2026, 6, 4, 0, 30, tzinfo=UTC),
    ]
    assert info.last_lag_seconds == 41430.0
    assert info.last_run_at == NOW


def test_code_schedules_written_to_table():
    names = [spec.name for spec in get_code_schedules()]
    assert "test-new-year" in names

    assert sync_code_schedules() >= 1

    row = Schedule.objects.get(name="test-new-year")
    assert row.defined_in_code is True
    assert row.timezone == "Europe/Berlin"
    assert row.arguments == {"key": "new-year"}
