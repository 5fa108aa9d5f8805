"""Fire times as cron users expect them, in the schedule's zone, across DST changes; bad cron
expressions and zones are usage errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobs.errors import UsageError
from jobs.service.schedules import make_trigger, next_fire_after


def local_times(cron: str, zone: str, start: datetime, count: int) -> list[str]:
    trigger = make_trigger(cron, zone)
    out, moment = [], start
    for _ in range(count):
        moment = next_fire_after(trigger, moment)
        out.append(moment.astimezone(trigger.timezone).strftime("%m-%d %H:%M%z"))
    return out


def test_a_nightly_time_in_the_repeated_autumn_hour_runs_once():
    times = local_times("30 2 * * *", "Europe/Berlin", datetime(2026, 10, 24, 12, tzinfo=UTC), 3)
    assert times == ["10-25 02:30+0200", "10-26 02:30+0100", "10-27 02:30+0100"]


def test_a_nightly_time_skipped_by_the_spring_jump_still_runs_once_that_night():
    times = local_times("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=UTC), 2)
    assert times == ["03-29 03:30+0200", "03-30 02:30+0200"]
    assert local_times("0 2 * * *", "Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=UTC), 1) == [
        "03-29 03:00+0200"
    ]


def test_every_half_hour_follows_real_time_through_the_autumn_change():
    # APScheduler 3.x alone steps backwards inside the repeated hour; ours only moves forward.
    times = local_times(
        "*/30 * * * *", "Europe/Berlin", datetime(2026, 10, 24, 23, 10, tzinfo=UTC), 6
    )
    assert times == [
        "10-25 01:30+0200",
        "10-25 02:00+0200",
        "10-25 02:30+0200",
        "10-25 02:00+0100",
        "10-25 02:30+0100",
        "10-25 03:00+0100",
    ]


def test_times_are_in_the_schedules_zone():
    trigger = make_trigger("0 2 * * *", "America/New_York")
    moment = next_fire_after(trigger, datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    assert moment == datetime(2026, 6, 1, 6, 0, tzinfo=UTC)  # 02:00 EDT


@pytest.mark.parametrize(
    ("cron", "zone", "message"),
    [
        ("61 * * * *", "UTC", "bad cron expression"),
        ("* * *", "UTC", "bad cron expression"),
        ("0 2 * * *", "Mars/Olympus", "unknown time zone"),
    ],
)
def test_bad_cron_expressions_and_zones_are_usage_errors(cron, zone, message):
    with pytest.raises(UsageError, match=message):
        make_trigger(cron, zone)
