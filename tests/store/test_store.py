"""The store's transitions on both backends: compare-and-set guards, leases, absorbing terminals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobs.clock import FakeClock
from jobs.errors import JobNotFound
from jobs.models import Job, JobStatus
from jobs.store import JobFilter, JobStore, TerminalResult


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def store(database):
    return JobStore(database)


def new_job(store: JobStore, clock: FakeClock, **fields) -> Job:
    job = Job(
        id=fields.pop("id", "job234"),
        model="m",
        created_at=clock.now(),
        prompt_excerpt="p",
        **fields,
    )
    return store.insert_job(
        job, fields.pop("labels", {}) if "labels" in fields else {}, clock.now()
    )


def running(
    store: JobStore, clock: FakeClock, job_id: str = "job234", interaction: str = "int_1"
) -> Job:
    new_job(store, clock, id=job_id)
    now = clock.now()
    assert store.claim_for_submit(job_id, "a", now, now + timedelta(seconds=60))
    assert store.record_submitted(
        job_id,
        "a",
        interaction_id=interaction,
        remote_status="in_progress",
        status=JobStatus.IN_PROGRESS,
        request_json="{}",
        remote_created=None,
        remote_updated=None,
        now=now,
        next_poll_at=now,
    )
    return store.get_job(job_id)


def test_only_one_submitter_can_claim_a_pending_job(store, clock):
    new_job(store, clock)
    now = clock.now()
    assert store.claim_for_submit("job234", "a", now, now + timedelta(seconds=60)) is not None
    assert store.claim_for_submit("job234", "b", now, now + timedelta(seconds=60)) is None
    job = store.get_job("job234")
    assert (job.status, job.lease_owner, job.submit_attempts) == ("submitting", "a", 1)


def test_a_dead_submitter_leaves_submit_unknown_never_pending(store, clock):
    new_job(store, clock)
    now = clock.now()
    store.claim_for_submit("job234", "a", now, now + timedelta(seconds=60))
    assert store.mark_stale_submissions(now + timedelta(seconds=30)) == []
    assert store.mark_stale_submissions(now + timedelta(seconds=61)) == ["job234"]
    job = store.get_job("job234")
    assert job.status == "submit_unknown" and job.lease_owner is None
    # The original submitter coming back late still records the id, so the job is found again.
    assert store.record_submitted(
        "job234",
        "a",
        interaction_id="int_late",
        remote_status="in_progress",
        status=JobStatus.IN_PROGRESS,
        request_json="{}",
        remote_created=None,
        remote_updated=None,
        now=now,
        next_poll_at=now,
    )
    assert store.get_job("int_late").id == "job234"


def test_claims_do_not_overlap_and_expired_leases_are_taken_over(store, clock):
    for n in range(5):
        running(store, clock, f"job{n}aa", f"int_{n}")
    now = clock.now()
    first = store.claim_due("w1", now, now + timedelta(seconds=60), 3)
    second = store.claim_due("w2", now, now + timedelta(seconds=60), 10)
    assert len(first) == 3 and len(second) == 2
    assert not {j.id for j in first} & {j.id for j in second}
    assert store.claim_due("w3", now, now + timedelta(seconds=60), 10) == []
    later = now + timedelta(seconds=61)
    assert len(store.claim_due("w3", later, later + timedelta(seconds=60), 10)) == 5


def test_terminal_states_are_absorbing_and_written_with_their_result(store, clock):
    running(store, clock)
    now = clock.now()
    [job] = store.claim_due("w1", now, now + timedelta(seconds=60), 1)
    usage = {
        "input_tokens": 3,
        "output_tokens": 4,
        "thought_tokens": 0,
        "cached_tokens": 0,
        "tool_use_tokens": 0,
        "total_tokens": 7,
    }
    assert store.record_terminal(
        job.id,
        status=JobStatus.COMPLETED,
        remote_status="completed",
        now=now,
        owner="w1",
        result=TerminalResult(output_text="answer", thoughts=["t"]),
        usage=usage,
    )
    for status in (JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.EXPIRED):
        assert not store.record_terminal(
            job.id,
            status=status,
            remote_status=status.value,
            now=now,
            result=TerminalResult(output_text="other"),
            usage={},
        )
    assert not store.record_poll(
        job.id,
        "w1",
        status=JobStatus.IN_PROGRESS,
        remote_status="in_progress",
        remote_updated=None,
        now=now,
        next_poll_at=now,
    )
    stored = store.get_job(job.id)
    assert (stored.status, stored.total_tokens, stored.output_chars) == ("completed", 7, 6)
    assert store.get_result(job.id).output_text == "answer"
    assert store.request_cancel(job.id, now)[1] is False


def test_a_worker_that_lost_its_lease_cannot_record(store, clock):
    running(store, clock)
    now = clock.now()
    store.claim_due("w1", now, now + timedelta(seconds=10), 1)
    later = now + timedelta(seconds=11)
    store.claim_due("w2", later, later + timedelta(seconds=60), 1)
    assert not store.record_poll(
        "job234",
        "w1",
        status=JobStatus.IN_PROGRESS,
        remote_status="in_progress",
        remote_updated=None,
        now=later,
        next_poll_at=later,
    )
    assert not store.record_terminal(
        "job234",
        status=JobStatus.COMPLETED,
        remote_status="completed",
        now=later,
        owner="w1",
        result=TerminalResult(),
        usage={},
    )
    assert store.get_job("job234").lease_owner == "w2"


def test_only_one_process_gets_to_send_the_cancel(store, clock):
    running(store, clock)
    now = clock.now()
    assert store.request_cancel("job234", now)[1] is True
    assert store.request_cancel("job234", now)[1] is False
    assert store.take_cancel_send("job234", now) is True
    assert store.take_cancel_send("job234", now) is False


def test_listing_filters_by_status_label_time_and_text(store, clock):
    new_job(store, clock, id="old234")
    clock.advance(3600)
    job = Job(id="new234", model="m", created_at=clock.now(), prompt_excerpt="find 100% of_this")
    store.insert_job(job, {"team": "a"}, clock.now())
    assert [j.id for j in store.list_jobs()] == ["new234", "old234"]
    assert [j.id for j in store.list_jobs(JobFilter(labels={"team": "a"}))] == ["new234"]
    assert [j.id for j in store.list_jobs(JobFilter(since=clock.now() - timedelta(minutes=5)))] == [
        "new234"
    ]
    assert [j.id for j in store.list_jobs(JobFilter(search="100% of_"))] == ["new234"]
    assert store.list_jobs(JobFilter(search="%")) == [] or all(
        "%" in j.prompt_excerpt for j in store.list_jobs(JobFilter(search="%"))
    )
    assert [j.id for j in store.list_jobs(JobFilter(statuses=["pending"], limit=1))] == ["new234"]


@pytest.mark.parametrize(
    "hostile",
    [
        "x' OR '1'='1",
        "'; DROP TABLE jobs; --",
        '" OR 1=1 --',
        "%' UNION SELECT * FROM job_results --",
    ],
)
def test_hostile_strings_are_only_data(store, clock, hostile):
    """T16: ids, labels and searches are parameters; the schema survives them."""
    new_job(store, clock)
    with pytest.raises(JobNotFound):
        store.get_job(hostile)
    assert store.list_jobs(JobFilter(search=hostile)) == []
    assert store.list_jobs(JobFilter(labels={"team": hostile})) == []
    assert store.list_jobs(JobFilter(statuses=[hostile])) == []
    assert [j.id for j in store.list_jobs()] == ["job234"]


def test_free_job_ids_are_distinct_and_skip_taken_ones(store, clock, monkeypatch):
    import jobs.store.jobs as jobs_module

    new_job(store, clock, id="taken2")
    ids = iter(["taken2", "fresh3", "fresh3", "fresh4", "fresh5"])
    monkeypatch.setattr(jobs_module, "new_job_id", lambda: next(ids))
    assert sorted(store.free_job_ids(2)) == ["fresh3", "fresh4"]
    monkeypatch.undo()
    many = store.free_job_ids(1200)  # more than one query's worth
    assert len(set(many)) == 1200 and "taken2" not in many
