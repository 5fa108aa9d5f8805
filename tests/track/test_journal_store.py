"""The event journal's store: once, in order, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

from jobs.models import Job
from jobs.store import EventStore, JobStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _job(database, job_id: str = "j1") -> str:
    JobStore(database).insert_job(Job(id=job_id, model="m", created_at=NOW), {}, NOW)
    return job_id


def test_append_stores_each_event_once_in_order(database):
    journal = EventStore(database)
    job = _job(database)
    first = [{"event_type": "a", "event_id": "e1"}, {"event_type": "b", "event_id": "e2"}]
    assert journal.append(job, first, NOW) == 2
    # A resumed stream replays e2, and the service delivers e3 twice.
    again = [
        {"event_type": "b", "event_id": "e2"},
        {"event_type": "c", "event_id": "e3", "x": "é"},
        {"event_type": "c", "event_id": "e3", "x": "é"},
    ]
    assert journal.append(job, again, NOW) == 1
    events = journal.read(job)
    assert [e.event_id for e in events] == ["e1", "e2", "e3"]
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    assert events[2].payload_json == '{"event_type":"c","event_id":"e3","x":"é"}'
    assert events[2].payload == {"event_type": "c", "event_id": "e3", "x": "é"}
    assert journal.last_event_id(job) == "e3"
    assert journal.read(job, after_seq=events[0].seq) == events[1:]


def test_unknown_types_and_events_without_id_are_kept_as_data(database):
    journal = EventStore(database)
    job = _job(database)
    weird = [{"event_type": "interaction.brand_new", "event_id": "e1", "new": [1]}, {"data": 3}]
    assert journal.append(job, weird, NOW) == 2
    events = journal.read(job)
    assert [e.event_type for e in events] == ["interaction.brand_new", "(none)"]
    assert events[0].payload["new"] == [1]
    assert journal.last_event_id(job) == "e1"


def test_tail_reads_every_job_or_some_by_seq(database):
    journal = EventStore(database)
    a, b = _job(database, "ja"), _job(database, "jb")
    journal.append(a, [{"event_type": "x", "event_id": "1"}], NOW)
    journal.append(b, [{"event_type": "y", "event_id": "1"}], NOW)
    journal.append(a, [{"event_type": "z", "event_id": "2"}], NOW)
    everything = journal.tail(after_seq=0)
    assert [(e.job_id, e.event_type) for e in everything] == [("ja", "x"), ("jb", "y"), ("ja", "z")]
    assert [e.event_type for e in journal.tail(after_seq=everything[0].seq, job_ids=["ja"])] == [
        "z"
    ]
    assert journal.tail(after_seq=everything[-1].seq) == []


def test_deleting_a_job_deletes_its_journal(database):
    journal = EventStore(database)
    job = _job(database)
    journal.append(job, [{"event_type": "x", "event_id": "1"}], NOW)
    journal.watch([job], NOW)
    assert JobStore(database).delete_job(job)
    assert journal.read(job) == [] and journal.tail(after_seq=0) == []


def test_last_event_ids_of_many_jobs_in_one_query(database):
    journal = EventStore(database)
    a, b, c = _job(database, "a"), _job(database, "b"), _job(database, "c")
    journal.append(a, [{"event_type": "x", "event_id": "a1"}, {"event_type": "y", "event_id": "a2"}], NOW)  # fmt: skip
    journal.append(b, [{"event_type": "x", "event_id": "b1"}, {"event_type": "no id"}], NOW)
    journal.append(a, [{"event_type": "z", "event_id": "a0"}], NOW)  # stored last: the resume point
    assert journal.last_event_ids([a, b, c]) == {"a": "a0", "b": "b1"}
    assert journal.last_event_ids([a, b, c]) == {
        j: journal.last_event_id(j) for j in (a, b) if journal.last_event_id(j)
    }
    assert journal.last_event_ids([]) == {}
