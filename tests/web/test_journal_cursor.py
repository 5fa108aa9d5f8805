"""The page's reading of the journal: an event whose transaction commits after a later one's (two
workers writing on PostgreSQL) is still sent, once."""

from __future__ import annotations

from datetime import UTC, datetime

from jobs.store.events import StoredEvent
from jobs.web.stream import JournalCursor


class CommittedJournal:
    """A journal that shows only what is committed, in seq order, as `EventStore.tail` does."""

    def __init__(self) -> None:
        self.rows: list[StoredEvent] = []

    def commit(self, seq: int, job_id: str = "j1") -> None:
        self.rows.append(
            StoredEvent(seq, job_id, f"evt_{seq}", "step.delta", {}, "{}", datetime.now(UTC))
        )
        self.rows.sort(key=lambda e: e.seq)

    def tail(self, *, after_seq, job_ids=None, limit=500):
        rows = [
            e for e in self.rows if e.seq > after_seq and (job_ids is None or e.job_id in job_ids)
        ]
        return rows[:limit]


def test_an_event_committed_late_is_still_sent_once():
    journal, now = CommittedJournal(), [0.0]
    cursor = JournalCursor(journal, ["j1", "j2"], 0, settle=2.0, clock=lambda: now[0])
    journal.commit(1)
    journal.commit(3, "j2")  # seq 2 is still in an open transaction of another worker
    assert [e.seq for e in cursor.poll()] == [1, 3]
    now[0] = 0.5
    journal.commit(2)  # ... and commits now
    assert [e.seq for e in cursor.poll()] == [2]
    assert cursor.poll() == []  # nothing twice


def test_what_is_settled_is_not_read_again():
    journal, now = CommittedJournal(), [0.0]
    cursor = JournalCursor(journal, ["j1"], 0, settle=2.0, clock=lambda: now[0])
    for seq in range(1, 6):
        journal.commit(seq)
    assert len(cursor.poll()) == 5
    now[0] = 3.0
    assert cursor.poll() == []
    assert cursor.floor == 5  # the next reads start after it


def test_a_window_larger_than_one_read_is_paged_through():
    journal, now = CommittedJournal(), [0.0]
    cursor = JournalCursor(journal, ["j1"], 0, settle=2.0, limit=3, clock=lambda: now[0])
    for seq in range(1, 8):
        journal.commit(seq)
    assert [e.seq for e in cursor.poll()] == [1, 2, 3]
    assert [e.seq for e in cursor.poll()] == [4, 5, 6]
    assert [e.seq for e in cursor.poll()] == [7]


def test_it_starts_after_the_resume_point():
    journal = CommittedJournal()
    for seq in range(1, 5):
        journal.commit(seq)
    cursor = JournalCursor(journal, ["j1"], 2)
    assert [e.seq for e in cursor.poll()] == [3, 4]
