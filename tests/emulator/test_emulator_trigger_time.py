"""Schedules on the emulated time line, in plain Python on a fake clock: standard cron in a time
zone (APScheduler underneath, with cron's own weekday numbers and day rule), the emulated clock
across speed changes, and firings of several triggers made in time order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs.emulator.cron import CronError, CronSchedule, weekdays
from jobs.emulator.emulated_time import EmulatedTime

NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # a Monday


def fires(expression: str, zone: str, after: datetime, count: int) -> list[datetime]:
    schedule, out = CronSchedule(expression, zone), []
    for _ in range(count):
        after = schedule.next_after(after)
        out.append(after)
    return out


@pytest.mark.parametrize(
    ("field", "days"),
    [
        ("1", {1}),  # Monday, not APScheduler 3's Tuesday
        ("0", {0}),
        ("7", {0}),
        ("1-5", {1, 2, 3, 4, 5}),
        ("*/2", {0, 2, 4, 6}),  # cron's Sunday, Tuesday, ..., not APScheduler's Monday, Wednesday
        ("5-7", {5, 6, 0}),
        ("fri-sun", {5, 6, 0}),
        ("MON,wed", {1, 3}),
        ("1/2", {1, 3, 5, 0}),
    ],
)
def test_weekdays_are_cron_weekdays(field, days):
    assert weekdays(field) == days


def test_a_monday_schedule_fires_on_mondays():
    got = fires("0 9 * * 1", "UTC", NOON, 3)
    assert [d.strftime("%A %d %H:%M") for d in got] == ["Monday 08 09:00", "Monday 15 09:00", "Monday 22 09:00"]  # fmt: skip


def test_day_of_month_or_day_of_week_when_both_are_given():
    got = fires("0 9 13 * 5", "UTC", NOON, 4)  # Fridays, and the 13th (a Saturday in June 2026)
    assert [d.day for d in got] == [5, 12, 13, 19]


def test_schedules_follow_the_time_zone_and_its_summer_time():
    berlin = fires("0 2 * * *", "Europe/Berlin", datetime(2026, 3, 27, tzinfo=UTC), 4)
    # 02:00 CET twice; on the 29th there is no 02:00 (03:00 CEST, the same instant); then CEST
    assert [d.hour for d in berlin] == [1, 1, 1, 0]
    # 02:30 does not exist on 29 March in Berlin: it fires once, right after the jump
    spring = fires("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=UTC), 2)
    assert spring == [datetime(2026, 3, 29, 1, 30, tzinfo=UTC), datetime(2026, 3, 30, 0, 30, tzinfo=UTC)]  # fmt: skip
    # 02:30 happens twice on 25 October: a fixed-hour schedule fires at the first one only
    autumn = fires("30 2 * * *", "Europe/Berlin", datetime(2026, 10, 24, 12, tzinfo=UTC), 2)
    assert autumn == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 26, 1, 30, tzinfo=UTC)]  # fmt: skip
    # an every-hour schedule follows real time through the repeated hour
    hourly = fires("30 * * * *", "Europe/Berlin", datetime(2026, 10, 25, 0, tzinfo=UTC), 3)
    assert [d.hour for d in hourly] == [0, 1, 2]


@pytest.mark.parametrize(
    ("expression", "zone", "says"),
    [
        ("0 0 * *", "UTC", "five"),
        ("61 * * * *", "UTC", "bad schedule"),
        ("0 0 * * 8", "UTC", "day of week"),
        ("0 0 * * 5-1", "UTC", "range"),
        ("0 0 30 2 *", "UTC", "never fires"),
        ("* * * * *", "Mars/Olympus_Mons", "unknown time zone"),
        ("* * * * *", "", "time_zone"),
        (None, "UTC", "string"),
    ],
)
def test_bad_schedules_say_why(expression, zone, says):
    with pytest.raises(CronError, match=says):
        CronSchedule(expression, zone)


def test_emulated_time_keeps_the_past_across_speed_changes():
    time = EmulatedTime(NOON, 1.0)
    assert time.to_emulated(NOON + timedelta(seconds=30)) == NOON + timedelta(seconds=30)
    time.set_speed(NOON + timedelta(seconds=30), 600)
    assert time.to_emulated(NOON + timedelta(seconds=31)) == NOON + timedelta(minutes=10, seconds=30)  # fmt: skip
    assert time.to_emulated(NOON + timedelta(seconds=10)) == NOON + timedelta(seconds=10)
    assert time.to_real(NOON + timedelta(hours=1)) == NOON + timedelta(seconds=30 + 3570 / 600)
    assert time.speed_at(NOON) == 1.0 and time.speed_at(NOON + timedelta(seconds=40)) == 600
    assert time.real_seconds(600, NOON + timedelta(seconds=40)) == pytest.approx(1.0)


def test_a_speed_change_moves_only_what_is_still_ahead(backend, clock):
    trigger = backend.trigger_call(
        "create",
        {
            "interaction": {"agent": "a", "input": "x"},
            "schedule": "0 * * * *",
            "time_zone": "UTC",
        },  # fmt: skip
    )
    clock.advance(1800)  # 12:30 at speed 1
    backend.configure(speed=3600)  # then an emulated hour per real second
    clock.advance(1.0)  # 13:30 emulated
    [execution] = backend.trigger_call("executions", trigger["id"])["trigger_executions"]
    assert execution["scheduled_time"] == "2026-06-01T13:00:00Z"
    made = backend.get(execution["interaction_id"])
    assert made["created"] == "2026-06-01T12:30:00Z"  # its real moment: half a second after 12:30


def test_firings_of_several_triggers_are_made_in_time_order(backend, clock):
    """The quota sees each firing at its own moment: two triggers half an hour apart share a
    "2 an hour" quota without a refusal, which they would not if one's firings were all made
    before the other's."""
    backend.configure(quotas={"a": "2/h"})
    for minute in (0, 30):
        backend.trigger_call(
            "create",
            {
                "interaction": {"agent": "a", "input": f"at {minute}"},
                "schedule": f"{minute} * * * *",
                "time_zone": "UTC",
            },  # fmt: skip
        )
    clock.advance(3 * 3600 + 600)
    counts = backend.stats()["quotas"]["by_name"]["a"]
    assert (counts["fired"], counts["fired_refused"]) == (6, 0)
    assert backend.stats()["triggers"]["executions"] == {"completed": 6}
