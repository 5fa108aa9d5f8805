"""The batch, schedule and notification queries on both backends: one winner for each firing and
each hook, a batch recorded whole or not at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs.models import Batch, Job, NotifyState, Schedule, ScheduleFiring
from jobs.store.batches import BatchStore, NewLine
from jobs.store.notifications import NotificationStore
from jobs.store.schedules import ScheduleStore, insert_firing

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def new_batch(name="night") -> Batch:
    return Batch(
        id="b23456", name=name, source="f", content_hash="0" * 64, created_at=NOW, updated_at=NOW
    )


def lines(count: int, prefix="k") -> list[NewLine]:
    return [
        NewLine(
            n + 1,
            f"key:{prefix}{n}",
            Job(id="j23456", model="m", created_at=NOW, prompt_excerpt=f"p{n}"),
        )
        for n in range(count)
    ]


def test_a_batch_is_recorded_whole_and_lines_once(database):
    store = BatchStore(database)
    batch, added = store.record(new_batch(), lines(50), NOW)
    assert batch is not None and len(added) == 50 and batch.line_count == 50
    assert len({line.job.id for line in added}) == 50  # colliding wanted ids got fresh ones
    again, added_again = store.record(new_batch(), lines(52), NOW)
    assert again.id == batch.id and [line.line_key for line in added_again] == [
        "key:k50",
        "key:k51",
    ]
    assert store.counts([batch.id])[batch.id].by_status == {"pending": 52}


def test_a_refusing_guard_writes_nothing(database):
    store = BatchStore(database)
    batch, added = store.record(new_batch(), lines(3), NOW, guard=lambda session: False)
    assert batch is None and added == [] and store.list() == []


def test_a_fire_time_is_inserted_once(database):
    schedules = ScheduleStore(database)
    schedule = schedules.add(
        Schedule(name="s", cron="* * * * *", file="/f", created_at=NOW, next_fire_at=NOW)
    )

    def firing() -> ScheduleFiring:
        return ScheduleFiring(
            schedule_id=schedule.id, fire_time=NOW, decided_at=NOW, state="fired", worker="w"
        )

    assert schedules.record_firing(firing()) is True
    assert schedules.record_firing(firing()) is False
    with database.write() as session:
        assert insert_firing(session, firing()) is False
    assert len(schedules.history(schedule.id)) == 1


def test_a_notification_is_claimed_by_one_process(database):
    jobs_store = BatchStore(database)
    batch, added = jobs_store.record(new_batch(), lines(1), NOW)
    notifications = NotificationStore(database)
    notifications.add("job", added[0].job.id, "true", NOW)
    with database.write() as session:  # the job ends
        job = session.get(Job, added[0].job.id)
        job.status = "completed"
    [due] = notifications.due(10)
    assert notifications.claim(due.id, "a", NOW) is True
    assert notifications.claim(due.id, "b", NOW) is False
    assert notifications.due(10) == []
    assert notifications.finish(due.id, "b", NotifyState.SENT, "", NOW) is False
    assert notifications.fail_interrupted(NOW + timedelta(hours=1), NOW + timedelta(hours=1)) == 1


@pytest.mark.parametrize("live", [True, False])
def test_a_batch_notification_waits_for_its_last_line(database, live):
    store = BatchStore(database)
    batch, added = store.record(new_batch(), lines(2), NOW, notify_target="true")
    with database.write() as session:
        for line in added[: 1 if live else 2]:
            session.get(Job, line.job.id).status = "failed"
    assert len(NotificationStore(database).due(10)) == (0 if live else 1)
