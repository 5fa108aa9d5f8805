"""Group claims and group records of the submit path (store/submitting.py), on both backends: the
same compare-and-set guards as one job at a time, a group to a transaction."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from jobs.clock import FakeClock
from jobs.models import Job, JobStatus
from jobs.store import JobStore
from jobs.store.submitting import GroupRecorder, SubmitStore, Submitted


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def stores(database):
    return JobStore(database), SubmitStore(database)


def add_jobs(store: JobStore, clock: FakeClock, ids, **fields) -> None:
    for job_id in ids:
        job = Job(id=job_id, model="m", created_at=clock.now(), prompt_excerpt="p", **fields)
        job.request_json = f'{{"input": "{job_id}"}}'
        store.insert_job(job, {}, clock.now())


def submitted(job_id: str, owner: str, clock: FakeClock, interaction: str) -> Submitted:
    now = clock.now()
    return Submitted(
        job_id,
        owner,
        interaction_id=interaction,
        remote_status="in_progress",
        status=JobStatus.IN_PROGRESS,
        request_json=None,
        remote_created=None,
        remote_updated=None,
        now=now,
        next_poll_at=now + timedelta(seconds=5),
    )


def test_a_group_claim_takes_only_due_unowned_pending_jobs_in_the_order_given(stores, clock):
    store, groups = stores
    now = clock.now()
    add_jobs(store, clock, ["jobaa2", "jobbb3", "jobcc4", "jobdd5"])
    add_jobs(store, clock, ["jobee6"], next_poll_at=now + timedelta(seconds=30))  # not due
    assert store.claim_for_submit("jobbb3", "other", now, now + timedelta(seconds=90))
    lease = now + timedelta(seconds=90)

    claimed = groups.claim_group(
        ["jobdd5", "jobbb3", "jobee6", "jobaa2", "jobcc4"], "me", now, lease
    )

    assert [j.id for j in claimed] == ["jobdd5", "jobaa2", "jobcc4"]
    assert all(j.status == "submitting" and j.lease_owner == "me" for j in claimed)
    assert claimed[0].request_json == '{"input": "jobdd5"}' and claimed[0].submit_attempts == 1
    assert store.get_job("jobbb3").lease_owner == "other"
    assert store.get_job("jobee6").status == "pending"
    assert [e.kind for e in store.events_for("jobaa2")] == ["recorded", "submitting"]
    # Claimed once: a second claim of the same group gets nothing.
    assert groups.claim_group(["jobdd5", "jobaa2"], "thief", now, lease) == []


def test_unclaim_gives_back_only_our_unsent_claims_and_their_attempt(stores, clock):
    store, groups = stores
    now = clock.now()
    add_jobs(store, clock, ["jobaa2", "jobbb3"])
    lease = now + timedelta(seconds=90)
    groups.claim_group(["jobaa2"], "me", now, lease)
    groups.claim_group(["jobbb3"], "other", now, lease)

    assert groups.unclaim(["jobaa2", "jobbb3"], "me", now) == ["jobaa2"]

    mine, theirs = store.get_job("jobaa2"), store.get_job("jobbb3")
    assert (mine.status, mine.lease_owner, mine.submit_attempts) == ("pending", None, 0)
    assert (theirs.status, theirs.lease_owner) == ("submitting", "other")
    assert store.claim_for_submit("jobaa2", "next", now, lease) is not None


def test_a_group_record_keeps_each_id_and_says_which_lines_wait_for_a_cancel(stores, clock):
    store, groups = stores
    now = clock.now()
    add_jobs(store, clock, ["jobaa2", "jobbb3", "jobcc4", "jobdd5"])
    groups.claim_group(["jobaa2", "jobbb3", "jobcc4"], "me", now, now + timedelta(seconds=90))
    store.request_cancel("jobbb3", now)  # asked while its create was in flight
    store.cancel_unsent("jobdd5", now)  # never claimed by us: nothing to record

    outcomes = groups.record_group(
        [submitted(j, "me", clock, f"int_{j}") for j in ("jobaa2", "jobbb3", "jobdd5")]
    )

    assert {j: (o.recorded, o.cancel_pending) for j, o in outcomes.items()} == {
        "jobaa2": (True, False),
        "jobbb3": (True, True),
        "jobdd5": (False, False),
    }
    done = store.get_job("jobaa2")
    assert (done.status, done.interaction_id, done.lease_owner) == (
        "in_progress",
        "int_jobaa2",
        None,
    )
    assert store.get_job("jobcc4").status == "submitting"  # not in this group: untouched
    assert store.get_job("jobdd5").interaction_id is None
    assert [e.kind for e in store.events_for("jobaa2")][-1] == "submitted"


def test_an_id_that_comes_after_the_lease_ran_out_is_still_kept(stores, clock):
    store, groups = stores
    now = clock.now()
    add_jobs(store, clock, ["jobaa2"])
    groups.claim_group(["jobaa2"], "me", now, now + timedelta(seconds=90))
    clock.advance(600)
    store.mark_stale_submissions(clock.now())
    assert store.get_job("jobaa2").status == "submit_unknown"

    outcome = groups.record_group([submitted("jobaa2", "me", clock, "int_late")])["jobaa2"]

    job = store.get_job("jobaa2")
    assert outcome.recorded and (job.status, job.interaction_id) == ("in_progress", "int_late")
    assert store.events_for("jobaa2")[-1].detail == "interaction int_late (late)"


def test_the_recorder_commits_records_that_arrive_together_in_one_transaction(stores, clock):
    store, groups = stores
    now = clock.now()
    ids = [f"job{n}a2" for n in range(2, 8)]
    add_jobs(store, clock, ids)
    groups.claim_group(ids, "me", now, now + timedelta(seconds=90))
    recorder = GroupRecorder(groups)
    first_in = threading.Event()
    release = threading.Event()
    real = groups.record_group

    def slow_first(entries):
        if not first_in.is_set():
            first_in.set()
            release.wait(5)  # the others arrive while this commit runs
        return real(entries)

    groups.record_group = slow_first
    outcomes = {}

    def record(job_id):
        outcomes[job_id] = recorder.record(submitted(job_id, "me", clock, f"int_{job_id}"))

    threads = [threading.Thread(target=record, args=(ids[0],))]
    threads[0].start()
    first_in.wait(5)
    threads += [threading.Thread(target=record, args=(j,)) for j in ids[1:]]
    for thread in threads[1:]:
        thread.start()
    while len(recorder._queue) < len(ids) - 1:  # all five wait behind the first commit
        threading.Event().wait(0.01)
    release.set()
    for thread in threads:
        thread.join(5)

    assert recorder.commits == 2  # the first alone, then the five that waited, together
    assert all(o.recorded for o in outcomes.values()) and len(outcomes) == len(ids)
    assert {store.get_job(j).interaction_id for j in ids} == {f"int_{j}" for j in ids}
