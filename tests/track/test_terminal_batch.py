"""Terminal results written many at a time: each job's outputs and usage in the same transaction as
its terminal status, guarded by status and lease owner, on both backends; one bad job does not lose
the others; and the worker's threads hand their ends to one writer (group commit)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from waiting import wait_for

from jobs.gateway import RemoteInteraction, remote_from_json
from jobs.models import Job, JobEvent, JobResult, JobStatus, JobUsage
from jobs.service.writers import TerminalWriter
from jobs.store import JobStore, TerminalResult
from jobs.store.tracking import TerminalWrite, TrackingStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _leased(database, job_id: str, owner: str = "w1", status: str = "in_progress") -> None:
    JobStore(database).insert_job(Job(id=job_id, model="m", created_at=NOW), {}, NOW)
    with database.write() as session:
        job = session.get(Job, job_id)
        job.status, job.interaction_id = status, f"int_{job_id}"
        job.lease_owner, job.lease_expires_at = owner, NOW + timedelta(minutes=5)


def _write(job_id: str, text: str, *, tier: str | None = "standard") -> TerminalWrite:
    raw = {"id": f"int_{job_id}", "status": "completed", "usage": {"total_tokens": 7}}
    if tier:
        raw["service_tier"] = tier
    return TerminalWrite(
        job_id=job_id,
        status=JobStatus.COMPLETED,
        remote_status="completed",
        result=TerminalResult(
            output_text=text, thoughts=["hm"], steps=[], usage=raw["usage"], errors=[], raw=raw
        ),  # fmt: skip
        usage={"total_tokens": 7, "input_tokens": 2},
    )


def _transactions(database) -> list[int]:
    count = [0]
    sa.event.listen(database.engine, "begin", lambda _conn: count.__setitem__(0, count[0] + 1))
    return count


def test_a_batch_writes_each_result_with_its_status_in_one_transaction(database):
    for job_id in ("a", "b", "c", "d"):
        _leased(database, job_id)
    _leased(database, "theirs", owner="w2")  # another worker's lease
    with database.write() as session:  # already ended: terminal states are absorbing
        session.get(Job, "d").status = JobStatus.CANCELLED.value
    begins = _transactions(database)
    writes = [_write(j, f"answer {j}") for j in ("a", "b", "c", "d", "theirs")]
    done = TrackingStore(database).record_terminals("w1", writes, NOW)
    assert done == {"a", "b", "c"}
    assert begins[0] == 1
    store = JobStore(database)
    for job_id in ("a", "b", "c"):
        job = store.get_job(job_id)
        assert (job.status, job.remote_status, job.finished_at) == ("completed", "completed", NOW)
        assert (job.lease_owner, job.next_poll_at, job.poll_count) == (None, None, 1)
        assert (job.total_tokens, job.input_tokens, job.output_chars) == (7, 2, len("answer a"))
        result = store.get_result(job_id)
        assert result.output_text == f"answer {job_id}"
        assert result.thoughts_json == '["hm"]'
    assert store.get_job("d").status == "cancelled" and store.get_result("d") is None
    assert store.get_job("theirs").status == "in_progress" and store.get_result("theirs") is None
    with database.read() as session:
        usage = session.get(JobUsage, "a")
        assert usage.service_tier == "standard"
        kinds = session.exec(sa.select(JobEvent.job_id, JobEvent.kind)).all()
    assert sorted(k for k in kinds if k[1] == "completed") == [("a", "completed"), ("b", "completed"), ("c", "completed")]  # fmt: skip


def test_the_batch_replaces_an_earlier_result_and_keeps_a_known_tier(database):
    _leased(database, "a")
    with database.write() as session:
        session.add(JobResult(job_id="a", output_text="old"))
        session.add(JobUsage(job_id="a", service_tier="flex", live_total_tokens=3))
    assert TrackingStore(database).record_terminals("w1", [_write("a", "new", tier=None)], NOW) == {
        "a"
    }
    assert JobStore(database).get_result("a").output_text == "new"
    with database.read() as session:
        usage = session.get(JobUsage, "a")
        assert (usage.service_tier, usage.live_total_tokens) == ("flex", 3)


def _remote(job_id: str, text: str) -> RemoteInteraction:
    return remote_from_json(
        {
            "id": f"int_{job_id}",
            "status": "completed",
            "steps": [{"type": "model_output", "content": [{"type": "text", "text": text}]}],
            "usage": {"total_tokens": 5},
        }
    )


def test_one_job_that_cannot_be_written_does_not_lose_the_others(
    make_settings, make_service, database_url
):
    service = make_service(make_settings(db_url=database_url), owner="w1")
    database = service.store.db
    for job_id in ("a", "b", "c"):
        _leased(database, job_id)
    jobs = {j: service.store.get_job(j) for j in ("a", "b", "c")}
    # A lone surrogate (valid JSON: "\ud800") cannot be encoded for the database.
    items = [(jobs["a"], _remote("a", "fine")), (jobs["b"], _remote("b", "bad \ud800")), (jobs["c"], _remote("c", "also fine"))]  # fmt: skip
    outcomes = service.recorder.record_terminals(items, owner="w1")
    assert outcomes[0] is True and outcomes[2] is True
    assert isinstance(outcomes[1], Exception)
    assert service.store.get_result("a").output_text == "fine"
    assert service.store.get_result("c").output_text == "also fine"
    assert service.store.get_job("b").status == "in_progress"  # still leased: polled again later
    assert service.store.get_result("b") is None


class SlowRecorder:
    """Records the batches it is given; the first write lasts until the test releases it, as a
    busy store's would."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.first_started, self.release_first = threading.Event(), threading.Event()

    def record_terminals(self, items, *, owner):
        if not self.batches:
            self.first_started.set()
            self.release_first.wait(10)
        self.batches.append([job.id for job, _remote in items])
        return [job.id != "gone" for job, _remote in items]


class FakeTracker:
    def __init__(self) -> None:
        self.service = type("S", (), {"recorder": SlowRecorder(), "owner": "w1"})()
        self.writer = type("W", (), {"sync": lambda self: None})()


def test_threads_ending_while_a_write_runs_are_written_together():
    tracker = FakeTracker()
    writer = TerminalWriter(tracker)  # type: ignore[arg-type]
    results: dict[str, bool] = {}

    def end(job_id: str) -> None:
        results[job_id] = writer.record(Job(id=job_id, model="m", created_at=NOW), None)  # type: ignore[arg-type]

    recorder = tracker.service.recorder
    first = threading.Thread(target=end, args=("first",))
    first.start()
    assert recorder.first_started.wait(5)  # the first write is under way
    others = [threading.Thread(target=end, args=(f"j{n}",)) for n in range(10)]
    others.append(threading.Thread(target=end, args=("gone",)))
    for thread in others:
        thread.start()
    wait_for(lambda: len(writer._queue) == 11, what="the other eleven ends to queue up")
    recorder.release_first.set()
    for thread in [first, *others]:
        thread.join(5)
    batches = tracker.service.recorder.batches
    assert batches[0] == ["first"]
    assert sorted(batches[1]) == sorted([f"j{n}" for n in range(10)] + ["gone"])
    assert len(batches) == 2
    assert results.pop("gone") is False and all(results.values()) and len(results) == 11


def test_a_write_that_fails_reaches_every_waiting_thread():
    tracker = FakeTracker()

    def broken(items, *, owner):
        raise RuntimeError("store said no")

    tracker.service.recorder.record_terminals = broken
    writer = TerminalWriter(tracker)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="store said no"):
        writer.record(Job(id="a", model="m", created_at=NOW), None)  # type: ignore[arg-type]
