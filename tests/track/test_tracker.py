"""The concurrent worker's pieces: watched jobs streamed first, calls that overlap, batch writes."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from stream_checks import wait_until

from jobs.models import Job, JobStatus
from jobs.service import SubmitSpec
from jobs.store import EventStore, JobStore
from jobs.store.tracking import TrackingStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _running(database, job_id: str, created: datetime) -> None:
    store = JobStore(database)
    store.insert_job(Job(id=job_id, model="m", created_at=created), {}, created)
    with database.write() as session:
        job = session.get(Job, job_id)
        job.status, job.interaction_id = JobStatus.IN_PROGRESS.value, f"int_{job_id}"


def test_watched_jobs_are_streamed_first_and_a_claim_is_exclusive(database):
    for n in range(3):
        _running(database, f"j{n}", NOW + timedelta(seconds=n))
    EventStore(database).watch(["j2"], NOW + timedelta(minutes=1))
    leases = TrackingStore(database)
    until = NOW + timedelta(minutes=2)
    first = leases.claim_for_stream("w1", NOW, until, 1)
    assert [j.id for j in first] == ["j2"]  # the newest, but someone follows it
    second = leases.claim_for_stream("w2", NOW, until, 5)
    assert [j.id for j in second] == ["j0", "j1"]  # oldest first; j2 is leased by w1
    assert leases.claim_for_stream("w3", NOW, until, 5) == []
    assert leases.renew("w1", ["j2", "j0"], until + timedelta(minutes=1)) == {"j2"}


def test_one_hung_call_does_not_hold_the_others(
    make_settings, make_service, emulator, clock, make_tracker
):
    service = make_service(make_settings(**{"worker.follow": "poll"}))
    jobs = [service.submit_new(SubmitSpec(prompt=f"q{n}")) for n in range(6)]
    clock.advance(60)  # all finished remotely; every one is due
    emulator.backend.faults.accept_then_delay("get", seconds=4.0, times=1)  # the first get hangs
    tracker = make_tracker(service, mode="poll", concurrency=4)
    started = time.monotonic()
    done = threading.Thread(target=lambda: tracker.run_pass(wait_for_calls=True))
    done.start()
    wait_until(
        lambda: sum(service.get_job(j.id).status == "completed" for j in jobs) >= 5,
        timeout=3.5,
        what="the other jobs, while one get hangs",
    )
    assert time.monotonic() - started < 4.0
    done.join(20)
    assert all(service.get_job(j.id).status == "completed" for j in jobs)


def test_a_job_due_for_a_poll_is_polled_first_unless_someone_watches_it(database):
    _running(database, "due", NOW)
    _running(database, "between", NOW + timedelta(seconds=1))
    _running(database, "watched", NOW + timedelta(seconds=2))
    with database.write() as session:
        session.get(Job, "due").next_poll_at = NOW - timedelta(seconds=1)
        session.get(Job, "between").next_poll_at = NOW + timedelta(seconds=5)
        session.get(Job, "watched").next_poll_at = NOW - timedelta(seconds=1)
    EventStore(database).watch(["watched"], NOW + timedelta(minutes=1))
    claimed = TrackingStore(database).claim_for_stream("w1", NOW, NOW + timedelta(minutes=2), 5)
    # `due` is left to the poll (one get says whether it ended; a stream would replay it all)
    assert [j.id for j in claimed] == ["watched", "between"]


def test_free_poll_slots_are_refilled_without_waiting_for_the_next_tick(
    make_settings, make_service, clock, make_tracker
):
    service = make_service(make_settings(**{"worker.follow": "poll"}))
    jobs = [service.submit_new(SubmitSpec(prompt=f"q{n}")) for n in range(8)]
    clock.advance(60)  # all finished remotely; every one is due
    tracker = make_tracker(service, mode="poll", concurrency=2)
    started = time.monotonic()
    tracker.start(interval=2.0)  # ticks at 2 s, 4 s, ...: two jobs a tick would take 8 s
    wait_until(
        lambda: all(service.get_job(j.id).status == "completed" for j in jobs),
        timeout=10,
        what="all jobs recorded",
    )
    assert time.monotonic() - started < 3.5
