"""Cron expressions in a time zone, with one fire per local wall-clock time.

An expression has five fields (minute, hour, day of month, month, day of
week, as in crontab) or six, with seconds first. Day-of-week numbers follow
crontab: 0 and 7 are Sunday. APScheduler 3 numbers weekdays from Monday, so
they are translated to names before they reach APScheduler's ``CronTrigger``.

``ZonedCronTrigger`` matches the fields against local wall-clock time and
turns each match into an instant once, at zoneinfo's first reading
(``fold=0``), verified with APScheduler 3.11:

- On the spring-forward day a time in the skipped hour (02:30 in
  Europe/Berlin on 2026-03-29) reads with the offset before the change, so it
  fires one hour later on the wall clock: 03:30 CEST, 01:30 UTC.
- On the fall-back day a time in the repeated hour fires at its first
  occurrence only (02:30 CEST, 00:30 UTC in Europe/Berlin on 2026-10-25).
  That also holds for schedules with a wildcard hour: they skip the repeated
  hour's second pass.

APScheduler 3.11's own ``CronTrigger`` with a zoneinfo zone fires such a daily
02:30 job twice on the fall-back day and then returns the same time again, so
it is used here only for wall-clock arithmetic in UTC, where no time is
skipped or repeated.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

FIELD_NAMES_5 = ("minute", "hour", "day", "month", "day_of_week")
FIELD_NAMES_6 = ("second", *FIELD_NAMES_5)

_WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")

#: Maximum number of wall-clock candidates tried for one next fire time. A
#: per-second schedule needs 3,600 to cross a repeated hour.
_MAX_CANDIDATES = 10_000


class InvalidCronError(ValueError):
    """Raised for a cron expression or time zone that cannot be used."""


def get_zone(name: str) -> ZoneInfo:
    """Return the IANA time zone ``name``.

    Raises:
      InvalidCronError: no such zone.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidCronError(
            f"Unknown time zone {name!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'."
        ) from None


def _weekday_number(token: str) -> int:
    token = token.strip().lower()
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token) % 7
    if token[:3] in _WEEKDAY_NAMES:
        return _WEEKDAY_NAMES.index(token[:3])
    raise InvalidCronError(f"Invalid day of week {token!r}; use 0-7 (0 and 7 are Sunday) or sun-sat.")


def _weekday_field(field: str) -> str:
    """Translate a crontab day-of-week field into APScheduler weekday names."""
    days: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() else 1
        if step_text and not step_text.isdigit():
            raise InvalidCronError(f"Invalid step {step_text!r} in day of week {field!r}.")
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            first_text, last_text = base.split("-", 1)
            first, last = _weekday_number(first_text), _weekday_number(last_text)
            if last_text.strip() == "7":
                last = 7
        else:
            first = _weekday_number(base)
            last = 6 if step_text else first
        days.update(day % 7 for day in range(first, last + 1, step))
    if len(days) == 7:
        return "*"
    return ",".join(_WEEKDAY_NAMES[day] for day in sorted(days))


def parse_cron(expression: str) -> dict[str, str]:
    """Return APScheduler ``CronTrigger`` fields for a five- or six-field expression.

    Raises:
      InvalidCronError: wrong number of fields or an invalid field.
    """
    values = expression.split()
    if len(values) == 5:
        fields = dict(zip(FIELD_NAMES_5, values))
        fields["second"] = "0"
    elif len(values) == 6:
        fields = dict(zip(FIELD_NAMES_6, values))
    else:
        raise InvalidCronError(
            f"Invalid cron expression {expression!r}: expected 5 fields (minute hour day "
            f"month weekday) or 6 with seconds first, got {len(values)}."
        )
    fields["day_of_week"] = _weekday_field(fields["day_of_week"])
    try:
        CronTrigger(**fields, timezone=timezone.utc)
    except ValueError as exc:
        raise InvalidCronError(f"Invalid cron expression {expression!r}: {exc}.") from None
    return fields


class ZonedCronTrigger(BaseTrigger):
    """An APScheduler trigger for a cron expression in a time zone (see the module notes)."""

    def __init__(self, expression: str, zone_name: str) -> None:
        self.expression = expression
        self.zone = get_zone(zone_name)
        self._wall_clock = CronTrigger(**parse_cron(expression), timezone=timezone.utc)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """Return the first fire time at or after ``now`` and after ``previous_fire_time``."""
        earliest = now
        if previous_fire_time is not None and previous_fire_time >= now:
            earliest = previous_fire_time + timedelta(microseconds=1)
        wall = earliest.astimezone(self.zone).replace(tzinfo=None, fold=0)
        # A wall time in a repeated hour may read earlier than ``earliest``, so
        # start one hour back and skip candidates before ``earliest``.
        cursor = (wall - timedelta(hours=1)).replace(tzinfo=timezone.utc)
        for _ in range(_MAX_CANDIDATES):
            match = self._wall_clock.get_next_fire_time(None, cursor)
            if match is None:
                return None
            instant = match.replace(tzinfo=self.zone, fold=0)
            if instant >= earliest:
                return instant.astimezone(timezone.utc)
            cursor = match + timedelta(microseconds=1)
        return None

    def __str__(self) -> str:
        return f"cron[{self.expression}] in {self.zone.key}"

    def __repr__(self) -> str:
        return f"ZonedCronTrigger({self.expression!r}, {self.zone.key!r})"


def next_fire_times(expression: str, zone_name: str, after: datetime, count: int) -> list[datetime]:
    """Return the next ``count`` fire times (UTC) at or after ``after``."""
    trigger = ZonedCronTrigger(expression, zone_name)
    times: list[datetime] = []
    previous = None
    now = after
    while len(times) < count:
        fire_time = trigger.get_next_fire_time(previous, now)
        if fire_time is None:
            break
        times.append(fire_time)
        previous = now = fire_time
    return times


def fire_times_between(
    expression: str, zone_name: str, start: datetime, end: datetime, limit: int = 1000
) -> list[datetime]:
    """Return up to ``limit`` fire times (UTC) in ``(start, end]``, oldest first."""
    trigger = ZonedCronTrigger(expression, zone_name)
    times: list[datetime] = []
    previous = start
    now = start + timedelta(microseconds=1)
    while len(times) < limit:
        fire_time = trigger.get_next_fire_time(previous, now)
        if fire_time is None or fire_time > end:
            break
        times.append(fire_time)
        previous = now = fire_time
    return times
