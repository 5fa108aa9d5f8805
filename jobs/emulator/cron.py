"""Standard (Vixie) cron schedules in a time zone, for the emulated `triggers` resource.

A trigger's `schedule` is "Standard cron format" (the SDK's words): five fields, minute hour
day-of-month month day-of-week. APScheduler 3.x's CronTrigger computes the fire times in the zone,
with two differences from standard cron corrected here:
- weekday numbers: cron counts 0 (or 7) as Sunday, APScheduler 3.x counts 0 as Monday; the
  weekday field is rewritten as names (`1-5` -> `mon,tue,wed,thu,fri`, `*/2` -> `sun,tue,thu,sat`);
- day-of-month and day-of-week both restricted (neither starts with `*`): cron fires on a day that
  matches EITHER, APScheduler on one that matches both; the next fire time is the earlier of the
  two schedules.
Daylight-saving changes: a time that does not exist that day fires once, right after the jump
(APScheduler's choice); a fixed-hour time that occurs twice (autumn) fires once, at its first
occurrence, as Vixie cron does; `*`-hour schedules follow real time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


class CronError(ValueError):
    """A schedule or time zone that cannot be used; the message says why, in one line."""


def zone_of(name: object) -> ZoneInfo:
    """The IANA time zone `name` (CronError when unknown)."""
    if not isinstance(name, str) or not name:
        raise CronError("time_zone must be an IANA time zone name such as UTC or Europe/Berlin")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown time zone {name!r} (e.g. UTC, Europe/Berlin)") from None


def _day_number(token: str) -> int:
    """0-7 (0 and 7: Sunday) from a number or a name."""
    lowered = token.lower()
    if lowered in DAY_NAMES:
        return DAY_NAMES.index(lowered)
    if not token.isdigit() or not 0 <= int(token) <= 7:
        raise CronError(f"bad day of week {token!r} (0-7 or sun-sat)")
    return int(token)


def weekdays(field: str) -> set[int]:
    """The days (0 = Sunday) a cron day-of-week field names."""
    days: set[int] = set()
    for element in field.split(","):
        base, slash, step_text = element.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise CronError(f"bad step in day of week {element!r}")
            step = int(step_text)
        if base == "*":
            first, last = 0, 7
        elif "-" in base:
            low, _, high = base.partition("-")
            first, last = _day_number(low), _day_number(high)
            if last == 0 and first > 0:
                last = 7  # "fri-sun": up to the Sunday that ends the week
            if first > last:
                raise CronError(f"bad range in day of week {element!r}")
        else:
            first = _day_number(base)
            last = 7 if slash else first  # "1/2": from Monday on, every other day
        days.update(day % 7 for day in range(first, last + 1, step))
    return days


class CronSchedule:
    """A five-field cron expression in an IANA time zone; `next_after` gives fire times in UTC."""

    def __init__(self, expression: object, time_zone: object) -> None:
        from apscheduler.triggers.cron import CronTrigger

        if not isinstance(expression, str):
            raise CronError("schedule must be a cron expression string")
        self.zone = zone_of(time_zone)
        fields = expression.split()
        if len(fields) != 5:
            raise CronError(
                f"schedule {expression!r} has {len(fields)} fields; standard cron has five "
                "(minute hour day-of-month month day-of-week)"
            )
        minute, hour, day, month, weekday = fields
        names = ",".join(DAY_NAMES[d] for d in sorted(weekdays(weekday)))
        restricted_day, restricted_weekday = not day.startswith("*"), not weekday.startswith("*")
        if restricted_day and restricted_weekday:  # cron's OR of the two day fields
            variants = [(day, "*"), ("*", names)]
        else:
            variants = [(day, names if restricted_weekday else "*")]

        def make(day: str, weekday: str, **bound: datetime) -> CronTrigger:
            return CronTrigger(
                minute=minute, hour=hour, day=day, month=month, day_of_week=weekday,
                timezone=self.zone, **bound,
            )  # fmt: skip

        try:
            self._triggers = [make(d, w) for d, w in variants]
            # "31 2" (February 31st) never fires; 30 years cover every leap cycle, and the bound
            # keeps APScheduler from searching up to the year 9999 to say so
            start, bound = datetime(2000, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)
            fires = any(
                make(d, w, end_date=bound).get_next_fire_time(None, start) for d, w in variants
            )
        except (ValueError, TypeError) as exc:
            raise CronError(f"bad schedule {expression!r}: {exc}") from None
        if not fires:
            raise CronError(f"schedule {expression!r} never fires")
        self._fixed_hour = not hour.startswith("*")

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after `after` (UTC), or None if there is none."""
        found = [t for t in (self._next(trigger, after) for trigger in self._triggers) if t]
        return min(found) if found else None

    def _next(self, trigger, after: datetime) -> datetime | None:
        start = after + timedelta(microseconds=1)
        for _ in range(1000):
            candidate = trigger.get_next_fire_time(None, start.astimezone(self.zone))
            if candidate is None:
                return None
            candidate = candidate.astimezone(UTC)
            if candidate <= after:
                # APScheduler 3.x can step backwards inside a repeated (autumn) hour.
                start += timedelta(minutes=1)
                continue
            local = candidate.astimezone(self.zone)
            if self._fixed_hour and local.fold == 1 and _ambiguous(local):
                start = candidate + timedelta(microseconds=1)  # the second 02:30 of the night
                continue
            return candidate
        return None


def _ambiguous(local: datetime) -> bool:
    return local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset()
