"""Batches end to end through the service and the emulator: recorded whole before anything is
sent, each line created once however often the file is submitted or resumed, 429 delays honoured."""

from __future__ import annotations

import threading

import pytest

from jobs.models import JobStatus
from jobs.service import SubmitSpec
from jobs.service.batch_file import BatchFileError
from tests.batches.conftest import creates_by_job, jsonl


def record(service, raw: bytes, name: str = "night"):
    return service.batches.record(service.batches.parse(raw, source=f"{name}.jsonl"), name=name)


def drive(service, clock, batch_id, limit=400):
    for _ in range(limit):
        if service.batches.summary(batch_id).ended:
            return service.batches.summary(batch_id)
        clock.advance(5.0)
        service.run_pass()
    raise AssertionError("batch did not end")


def test_a_file_submitted_twice_creates_each_line_once(db_service, emulator, clock):
    service = db_service()
    raw = jsonl([{"prompt": f"prompt {i}", "key": f"k{i}"} for i in range(30)])
    first = record(service, raw)
    assert (first.added, first.already) == (30, 0)
    report = service.batches.submit_pending(first.batch.id, concurrency=4)
    assert (report.sent, report.left_pending, report.failed) == (30, 0, 0)

    again = record(service, raw)
    assert again.batch.id == first.batch.id and (again.added, again.already) == (0, 30)
    assert service.batches.submit_pending(again.batch.id).sent == 0
    stats = emulator.backend.stats()
    assert stats["creates"] == 30 and set(creates_by_job(stats).values()) == {1}
    summary = drive(service, clock, first.batch.id)
    assert summary.all_completed and summary.counts.total_tokens > 0


def test_a_changed_file_adds_only_the_new_lines(db_service, emulator):
    service = db_service()
    first = record(service, jsonl([{"prompt": "a"}, {"prompt": "b"}]))
    service.batches.submit_pending(first.batch.id)
    second = record(service, jsonl([{"prompt": "a"}, {"prompt": "b"}, {"prompt": "c"}]))
    assert (second.added, second.already) == (1, 2) and second.batch.line_count == 3
    service.batches.submit_pending(second.batch.id)
    assert emulator.backend.stats()["creates"] == 3


def test_a_bad_file_records_nothing(db_service, emulator):
    service = db_service()
    with pytest.raises(BatchFileError):
        service.batches.parse(jsonl([{"prompt": "ok"}, {"nope": 1}]), source="x.jsonl")
    assert service.batches.list() == [] and service.list_jobs() == []
    assert emulator.backend.stats()["requests"]["create"] == 0


def test_a_429_pauses_the_whole_submitter_for_the_servers_delay(service, emulator, clock):
    emulator.backend.faults.fail("create", 429, times=2, retry_after=20.0)
    recorded = record(service, jsonl([{"prompt": f"p{i}"} for i in range(6)]))
    start = clock.monotonic()
    report = service.batches.submit_pending(recorded.batch.id, concurrency=3, max_wait=300)
    assert report.sent == 6 and report.left_pending == 0
    assert clock.monotonic() - start >= 20.0  # nothing went out before the delay ran out
    stats = emulator.backend.stats()
    assert stats["creates"] == 6 and stats["requests"]["create"] <= 6 + 3


def test_a_429_longer_than_the_wait_budget_leaves_the_rest_to_the_worker(service, emulator, clock):
    emulator.backend.faults.fail("create", 429, times=1, retry_after=600.0)
    recorded = record(service, jsonl([{"prompt": f"p{i}"} for i in range(5)]))
    report = service.batches.submit_pending(recorded.batch.id, concurrency=1, max_wait=60)
    assert report.sent == 0 and report.left_pending == 5
    assert service.batches.summary(recorded.batch.id).counts.by_status == {"pending": 5}
    clock.advance(601)
    for _ in range(3):
        service.run_pass()
    assert emulator.backend.stats()["creates"] == 5


def test_the_rate_spaces_the_creates(service, emulator, clock):
    recorded = record(service, jsonl([{"prompt": f"p{i}"} for i in range(5)]))
    start = clock.monotonic()
    service.batches.submit_pending(recorded.batch.id, concurrency=2, rate=2.0)
    assert clock.monotonic() - start >= 2.0  # 5 creates at 2/s: the last one at 2 s


def test_cancel_and_retry(service, emulator, clock):
    recorded = record(service, jsonl([{"prompt": f"p{i}", "key": f"k{i}"} for i in range(4)]))
    batch_id = recorded.batch.id
    first_job = service.batches.store.job_ids(batch_id)[0]
    service.submit(first_job)
    summary = service.batches.cancel(batch_id)
    assert summary.counts.by_status.get("pending", 0) == 0
    summary = drive(service, clock, batch_id)
    assert summary.counts.completed == 0 and summary.counts.not_completed == 4
    assert {j.status for _line, j in summary.failures} == {"cancelled"}
    # only the one that was sent reached the API, once
    assert emulator.backend.stats()["creates"] == 1

    new_ids = service.batches.retry(batch_id)
    assert len(new_ids) == 4
    assert service.batches.submit_pending(batch_id).sent == 4
    summary = drive(service, clock, batch_id)
    assert summary.all_completed
    line = service.batches.store.line_of_job(new_ids[0])
    assert line is not None and line.retries == 1 and first_job in line.previous_job_ids
    assert service.get_job(first_job).job_status is JobStatus.CANCELLED  # the old job is kept


def test_list_jobs_by_batch_in_file_order(service):
    from jobs.store import JobFilter

    recorded = record(service, jsonl([{"prompt": f"prompt {i}"} for i in range(5)]))
    other = service.create_job(SubmitSpec("x"))
    jobs = service.list_jobs(JobFilter(batch_id=recorded.batch.id))
    assert [j.prompt_excerpt for j in jobs] == [f"prompt {i}" for i in range(5)]
    assert other.id not in {j.id for j in jobs}


def test_a_batch_claims_and_records_its_lines_a_group_at_a_time(db_service, emulator):
    """The store's write transactions, not one or two a line: the threads claim the next lines
    together, and the ids of creates that return together are committed together."""
    import sqlalchemy as sa

    service = db_service()
    recorded = record(service, jsonl([{"prompt": f"p{i}"} for i in range(40)]))
    commits = []
    sa.event.listen(service.store.db.engine, "commit", lambda conn: commits.append(1))
    report = service.batches.submit_pending(recorded.batch.id, concurrency=8)
    assert report.sent == 40
    # 5 claims of 8 lines, and at most one record a line (fewer when creates return together);
    # one line at a time took at least 80 (a claim and a record each).
    assert len(commits) <= 5 + 40 + 2, len(commits)
    stats = emulator.backend.stats()
    assert stats["creates"] == 40 and set(creates_by_job(stats).values()) == {1}
    jobs = service.list_jobs()
    assert {j.status for j in jobs} <= {"queued", "in_progress", "completed", "unknown"}
    assert all(j.interaction_id and j.lease_owner is None for j in jobs)


def test_lines_claimed_but_not_sent_when_a_429_stops_the_submitter_are_pending_again(
    service, emulator, clock
):
    emulator.backend.faults.fail("create", 429, times=1, retry_after=600.0)
    recorded = record(service, jsonl([{"prompt": f"p{i}"} for i in range(6)]))
    report = service.batches.submit_pending(recorded.batch.id, concurrency=3, max_wait=60)
    counts = service.batches.summary(recorded.batch.id).counts.by_status
    assert "submitting" not in counts  # nothing left claimed behind the stopped submitter
    assert report.sent + report.left_pending == 6 and counts.get("pending") == report.left_pending
    assert emulator.backend.stats()["creates"] == report.sent
    for job in service.list_jobs():
        if job.status == "pending" and job.error_code is None:  # claimed, released, never tried
            assert job.submit_attempts == 0


def test_a_line_cancelled_while_its_create_is_in_flight_is_cancelled_once(
    make_service, settings, emulator
):
    """The group record says which lines were asked to cancel meanwhile: those get their one
    remote cancel at once, the others are not read again."""
    submitter, cli = make_service(settings, owner="batch-1"), make_service(settings, owner="cli-1")
    emulator.backend.faults.force_outcome("in_progress")  # runs until cancelled
    recorded = record(submitter, jsonl([{"prompt": f"p{i}"} for i in range(6)]))
    first_two = submitter.batches.store.job_ids(recorded.batch.id)[:2]
    inner = submitter.gateway
    asked = []
    once = threading.Lock()

    class CancelDuringFirstCreate:
        def __getattr__(self, name):
            return getattr(inner, name)

        def create(self, body):
            with once:
                if not asked:
                    asked.extend(cli.cancel(job_id).status for job_id in first_two)
            return inner.create(body)

    submitter.gateway = CancelDuringFirstCreate()
    report = submitter.batches.submit_pending(recorded.batch.id, concurrency=2)
    assert report.sent == 6 and asked == ["submitting", "submitting"]  # recorded, not sent yet
    assert emulator.backend.stats()["requests"]["cancel"] == 2
    for job in submitter.list_jobs():
        if job.id in first_two:
            assert job.status == "cancelled" and job.cancel_sent_at is not None
        else:
            assert job.status != "cancelled" and job.cancel_requested_at is None


def test_a_store_that_refuses_a_group_claim_leaves_those_lines_to_the_worker(
    service, emulator, monkeypatch
):
    from jobs.errors import StoreError
    from jobs.store.submitting import SubmitStore

    recorded = record(service, jsonl([{"prompt": f"p{i}"} for i in range(6)]))
    real = SubmitStore.claim_group
    refused = []

    def claim_group(self, job_ids, *args):
        if not refused:
            refused.extend(job_ids)
            raise StoreError("database is locked")
        return real(self, job_ids, *args)

    monkeypatch.setattr(SubmitStore, "claim_group", claim_group)
    report = service.batches.submit_pending(recorded.batch.id, concurrency=2)
    assert len(refused) == 2 and (report.sent, report.left_pending) == (4, 2)
    counts = service.batches.summary(recorded.batch.id).counts.by_status
    assert counts["pending"] == 2 and "submitting" not in counts
    assert emulator.backend.stats()["creates"] == 4


def test_a_claimed_line_whose_lease_ran_short_is_claimed_again_before_it_is_sent(
    service, emulator, clock, monkeypatch
):
    """Never a create under a lease that may end before the create does: another process could
    mark the line submit_unknown meanwhile, and the user resubmit it."""
    from jobs.store.submitting import SubmitStore

    recorded = record(service, jsonl([{"prompt": f"p{i}"} for i in range(3)]))
    real = SubmitStore.claim_group
    first = []

    def claim_then_stall(self, job_ids, *args):
        jobs = real(self, job_ids, *args)
        if not first:
            first.extend(job_ids)
            clock.advance(31)  # past the lease's margin over the create timeout
        return jobs

    monkeypatch.setattr(SubmitStore, "claim_group", claim_then_stall)
    report = service.batches.submit_pending(recorded.batch.id, concurrency=3)
    assert report.sent == 3 and len(first) == 3
    stats = emulator.backend.stats()
    assert stats["creates"] == 3 and set(creates_by_job(stats).values()) == {1}
    for job_id in first:
        kinds = [e.kind for e in service.store.events_for(job_id)]
        assert kinds[:4] == ["recorded", "submitting", "pending", "submitting"], kinds
        assert service.get_job(job_id).submit_attempts == 1
