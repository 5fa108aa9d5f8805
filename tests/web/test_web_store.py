"""The read-only query behind the jobs panel's live updates, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobs.models import Job
from jobs.store import JobStore
from jobs.store.activity import JobActivity


def test_changed_since_names_each_changed_job_once_in_order(database):
    store, activity = JobStore(database), JobActivity(database)
    assert activity.last_change() == 0
    now = datetime(2026, 6, 1, tzinfo=UTC)
    a = store.insert_job(Job(id="aaaaaa", model="m", created_at=now), {}, now)
    cursor = activity.last_change()
    b = store.insert_job(Job(id="bbbbbb", model="m", created_at=now), {}, now)
    store.request_cancel(a.id, now + timedelta(seconds=1))
    store.cancel_unsent(a.id, now + timedelta(seconds=1))
    cursor, changed = activity.changed_since(cursor)
    assert changed == [b.id, a.id]
    assert activity.changed_since(cursor) == (cursor, [])
    assert {j.id for j in activity.jobs(changed)} == {a.id, b.id}
    assert activity.jobs([]) == []
    # Read in pieces: nothing is skipped between them.
    start = 0
    seen: list[str] = []
    while True:
        start, ids = activity.changed_since(start, limit=1)
        if not ids:
            break
        seen += ids
    assert set(seen) == {a.id, b.id}
