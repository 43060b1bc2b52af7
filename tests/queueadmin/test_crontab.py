"""Cron expressions in time zones, across daylight-saving changes."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from queueadmin.crontab import InvalidCronError, fire_times_between, next_fire_times, parse_cron

UTC = timezone.utc


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _daily_fires(zone: str, start: str, end: str, cron: str = "30 2 * * *") -> list[str]:
    times = fire_times_between(cron, zone, _utc(start), _utc(end))
    return [time.strftime("%Y-%m-%d %H:%M") for time in times]


# Daily 02:30 local, expected UTC fire times. Europe/Berlin 2026: clocks go forward on 29 March at
# 02:00 CET (02:30 does not exist) and back on 25 October at 03:00 CEST
# (02:30 happens twice). America/New_York 2026: 8 March and 1 November.
DST_TABLE = [
    (
        "Europe/Berlin",
        "2026-03-27",
        "2026-04-01",
        ["2026-03-27 01:30", "2026-03-28 01:30", "2026-03-29 01:30", "2026-03-30 00:30",
         "2026-03-31 00:30"],
    ),
    (
        "Europe/Berlin",
        "2026-10-23",
        "2026-10-28",
        ["2026-10-23 00:30", "2026-10-24 00:30", "2026-10-25 00:30", "2026-10-26 01:30",
         "2026-10-27 01:30"],
    ),
    (
        "America/New_York",
        "2026-03-06",
        "2026-03-11",
        ["2026-03-06 07:30", "2026-03-07 07:30", "2026-03-08 07:30", "2026-03-09 06:30",
         "2026-03-10 06:30"],
    ),
    (
        "America/New_York",
        "2026-10-30",
        "2026-11-04",
        ["2026-10-30 06:30", "2026-10-31 06:30", "2026-11-01 07:30", "2026-11-02 07:30",
         "2026-11-03 07:30"],
    ),
]

# New York repeats 01:00-02:00 on 1 November, so there a 01:30 job is the one
# whose wall-clock time happens twice: it fires at the first pass (EDT).
NEW_YORK_FALL_BACK_0130 = [
    "2026-10-31 05:30", "2026-11-01 05:30", "2026-11-02 06:30", "2026-11-03 06:30",
]


@pytest.mark.parametrize(("zone", "start", "end", "expected"), DST_TABLE)
def test_daily_job_once_per_local_day(zone, start, end, expected):
    assert _daily_fires(zone, start, end) == expected


def test_new_york_ambiguous_time_fires_once():
    fires = _daily_fires("America/New_York", "2026-10-31", "2026-11-04", cron="30 1 * * *")
    assert fires == NEW_YORK_FALL_BACK_0130


def test_spring_forward_fires_at_0330():
    (fire_time,) = fire_times_between(
        "30 2 * * *", "Europe/Berlin", _utc("2026-03-29 00:00"), _utc("2026-03-29 12:00")
    )
    # 02:30 does not exist that day; the run happens at 03:30 CEST.
    assert fire_time == _utc("2026-03-29 01:30")


def test_fall_back_hourly_job_skips_repeated_hour():
    times = fire_times_between(
        "0 * * * *", "Europe/Berlin", _utc("2026-10-24 23:30"), _utc("2026-10-25 03:30")
    )
    assert [time.strftime("%H:%M") for time in times] == ["00:00", "02:00", "03:00"]


def test_next_fire_times_from_inside_repeated_hour():
    # 01:10 UTC is 02:10 CET, the second pass of 02:00-03:00; 02:30 already fired.
    (fire_time,) = next_fire_times("30 2 * * *", "Europe/Berlin", _utc("2026-10-25 01:10"), 1)
    assert fire_time == _utc("2026-10-26 01:30")


def test_six_fields_fire_every_second():
    times = next_fire_times("* * * * * *", "UTC", _utc("2026-01-01 00:00:00.5"), 3)
    assert [time.second for time in times] == [1, 2, 3]


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("sat,sun", "sun,sat"),
        ("*/2", "sun,tue,thu,sat"),
        ("5-7", "sun,fri,sat"),
        ("*", "*"),
    ],
)
def test_weekday_numbers_follow_crontab(field, expected):
    assert parse_cron(f"0 3 * * {field}")["day_of_week"] == expected


def test_sunday_schedule_fires_on_sunday():
    (fire_time,) = next_fire_times("0 3 * * 0", "UTC", _utc("2026-12-01 00:00"), 1)
    assert fire_time.strftime("%A") == "Sunday"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "expected 5 fields"),
        ("61 * * * *", "Invalid cron expression"),
        ("0 3 * * 8", "Invalid day of week"),
    ],
)
def test_invalid_expression_rejected(expression, message):
    with pytest.raises(InvalidCronError, match=message):
        parse_cron(expression)


def test_unknown_zone_rejected():
    with pytest.raises(InvalidCronError, match="Unknown time zone 'Mars/Olympus'"):
        next_fire_times("0 3 * * *", "Mars/Olympus", _utc("2026-01-01 00:00"), 1)
