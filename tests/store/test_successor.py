"""Issue 8: a turn of a conversation gets at most one live successor, even when two processes
continue it at the same instant (the parent row is locked by the inserting transaction)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from jobs.models import Job
from jobs.service.core import DEAD_END_STATUSES
from jobs.store import JobStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _job(job_id: str, parent: str | None = None) -> Job:
    return Job(
        id=job_id,
        model="m",
        created_at=NOW,
        request_json="{}",
        prompt_excerpt=job_id,
        parent_job_id=parent,
    )


def test_two_concurrent_continues_of_one_turn_insert_one(database):
    store = JobStore(database)
    store.insert_job(_job("parent"), {}, NOW)
    barrier = threading.Barrier(8)
    results = []

    def cont(n: int) -> None:
        barrier.wait()
        inserted, existing = store.insert_successor(
            _job(f"child{n}", "parent"), {}, NOW, dead_ends=DEAD_END_STATUSES
        )
        results.append((inserted.id if inserted else None, existing.id if existing else None))

    threads = [threading.Thread(target=cont, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = [r[0] for r in results if r[0]]
    assert len(results) == 8 and len(winners) == 1
    assert all(r[1] == winners[0] for r in results if not r[0])
    assert [c.id for c in store.children_of("parent")] == winners
