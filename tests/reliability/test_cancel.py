"""T18: cancel while submitting, while polling, after the end: exactly one remote cancel reaches the
API and the final status is the server's. Interleavings are forced deterministically by wrapping
the gateway of the process that is mid-call and running the other process's step inside the call."""

from __future__ import annotations

import pytest
from reliability_checks import all_settled, check_invariants, run_passes

from jobs.errors import GatewayError, InvalidTransition
from jobs.models import JobStatus
from jobs.service import SubmitSpec


class Interleave:
    """Wraps a gateway: runs `before`/`after` callbacks around the first call of `op`."""

    def __init__(self, gateway, op, *, before=None, after=None) -> None:
        self.inner, self.op, self.before, self.after, self.fired = gateway, op, before, after, False

    def __getattr__(self, name):
        call = getattr(self.inner, name)
        if name != self.op:
            return call

        def wrapped(*args, **kwargs):
            first = not self.fired
            self.fired = True
            if first and self.before:
                self.before()
            result = call(*args, **kwargs)
            if first and self.after:
                self.after()
            return result

        return wrapped


@pytest.fixture
def two(make_service, make_settings):
    """A worker and a CLI process on one store, sharing the clock and the emulator."""
    settings = make_settings()
    return make_service(settings, owner="worker-1"), make_service(settings, owner="cli-1")


def remote_status(emulator, interaction_id):
    return next(
        r["status"] for r in emulator.backend.list_interactions() if r["id"] == interaction_id
    )


def assert_cancelled_once(emulator, service, job_id):
    job = service.get_job(job_id)
    stats = emulator.backend.stats()
    assert stats["requests"]["cancel"] == 1, stats["requests"]
    assert (
        job.status == "cancelled"
        and job.remote_status == remote_status(emulator, job.interaction_id) == "cancelled"
    )
    assert job.cancel_requested_at and job.cancel_sent_at
    check_invariants(service.store, stats, accepted=[job_id])


@pytest.mark.parametrize(
    "when", ["before", "after"], ids=["before-create-returns", "after-create-returns"]
)
def test_cancel_while_submitting(two, emulator, clock, when):
    worker, cli = two
    emulator.backend.faults.force_outcome("in_progress")  # runs until cancelled
    job = worker.create_job(SubmitSpec(prompt="long"))
    answers = []

    def cancel_now():
        answers.append(cli.cancel(job.id))
        answers.append(cli.cancel(job.id))  # asked twice: still one remote cancel

    worker.gateway = Interleave(worker.gateway, "create", **{when: cancel_now})
    worker.run_pass()
    assert [a.status for a in answers] == ["submitting", "submitting"]  # recorded, not sent yet
    assert_cancelled_once(emulator, worker, job.id)


@pytest.mark.parametrize(
    "when", ["before", "after"], ids=["before-get-returns", "after-get-returns"]
)
def test_cancel_while_polling(two, emulator, clock, when):
    worker, cli = two
    emulator.backend.faults.force_outcome("in_progress")
    job = worker.submit_new(SubmitSpec(prompt="long"))
    clock.advance(10)
    worker.gateway = Interleave(worker.gateway, "get", **{when: lambda: cli.cancel(job.id)})
    assert worker.run_pass().polled == 1
    assert_cancelled_once(emulator, worker, job.id)
    for _ in range(3):
        clock.advance(60)
        worker.run_pass()
    assert emulator.backend.stats()["requests"]["cancel"] == 1


class Died(BaseException):
    """A process killed right here (BaseException: nothing in the code under test catches it)."""


def test_cancel_by_two_processes_at_once_sends_one(two, emulator, clock):
    """One process sends the cancel while the other is mid-call: one remote cancel."""
    worker, cli = two
    emulator.backend.faults.force_outcome("in_progress")
    job = worker.submit_new(SubmitSpec(prompt="long"))
    cli.gateway = Interleave(cli.gateway, "cancel", before=lambda: worker.cancel(job.id))
    cli.cancel(job.id)
    assert_cancelled_once(emulator, worker, job.id)


def test_cancel_with_a_stale_view_does_not_send_twice(two, emulator, clock):
    """Both processes read the job before either sends; the first sends and dies before recording
    anything but "sent". The second must not send again (the store's compare-and-set says no)."""
    worker, cli = two
    emulator.backend.faults.force_outcome("in_progress")
    job = worker.submit_new(SubmitSpec(prompt="long"))

    def die_after_sending(*_args):
        raise Died("killed after its cancel reached the API")

    def worker_cancels_and_dies():
        worker.gateway = Interleave(worker.gateway, "cancel", after=die_after_sending)
        with pytest.raises(Died):
            worker.cancel(job.id)

    cli.store = Interleave(cli.store, "request_cancel", after=worker_cancels_and_dies)
    seen = cli.cancel(job.id)  # its view: cancel requested, not sent
    assert emulator.backend.stats()["requests"]["cancel"] == 1
    assert not seen.job_status.is_terminal
    clock.advance(60)
    worker.run_pass()  # the final status comes from the server, by polling
    assert_cancelled_once(emulator, worker, job.id)


def test_cancel_after_a_local_end_sends_nothing(two, emulator, clock):
    worker, cli = two
    job = worker.submit_new(SubmitSpec(prompt="short"))
    run_passes(worker, clock, until=lambda: all_settled(worker.store), step=2)
    before = check_invariants(worker.store, emulator.backend.stats(), accepted=[job.id])
    with pytest.raises(InvalidTransition, match="already ended completed"):
        cli.cancel(job.id)
    assert emulator.backend.stats()["requests"]["cancel"] == 0
    check_invariants(worker.store, emulator.backend.stats(), accepted=[job.id], before=before)


def test_cancel_after_a_remote_end_takes_the_servers_status(two, emulator, clock):
    worker, cli = two
    job = worker.submit_new(SubmitSpec(prompt="short"))
    clock.advance(600)  # finished remotely; not polled yet
    done = cli.cancel(job.id)
    assert emulator.backend.stats()["requests"]["cancel"] == 1
    assert done.status == "completed" and cli.get_result(job.id).output_text  # the server's word
    check_invariants(worker.store, emulator.backend.stats(), accepted=[job.id])


def test_cancel_of_a_job_never_sent_is_local(two, emulator, clock):
    worker, cli = two
    job = worker.create_job(SubmitSpec(prompt="not sent yet"))
    assert cli.cancel(job.id).status == "cancelled"
    for _ in range(3):
        clock.advance(60)
        worker.run_pass()
    stats = emulator.backend.stats()["requests"]
    assert stats["create"] == 0 and stats["cancel"] == 0


def test_a_failed_remote_cancel_is_sent_again_by_the_worker(two, emulator, clock):
    worker, cli = two
    emulator.backend.faults.force_outcome("in_progress")
    job = worker.submit_new(SubmitSpec(prompt="long"))
    emulator.backend.faults.fail("cancel", 429, times=1)
    with pytest.raises(GatewayError, match="429"):
        cli.cancel(job.id)
    assert cli.get_job(job.id).cancel_sent_at is None  # free for the worker to send again
    worker.run_pass()
    job = worker.get_job(job.id)
    assert job.status == "cancelled" and emulator.backend.stats()["requests"]["cancel"] == 2


@pytest.mark.parametrize("action", ["cancel", "delete", "resubmit"])
def test_a_create_that_lands_too_late_to_be_recorded_is_cancelled_remotely(
    two, emulator, clock, action
):
    """The submitter stalls past its lease; another process marks the job submit_unknown, and the user
    cancels it, deletes it, or resubmits it. Then the stalled create lands: that interaction can no
    longer be recorded, nobody would ever read it, so it is cancelled rather than paid for."""
    worker, cli = two
    emulator.backend.faults.force_outcome("in_progress")
    job = worker.create_job(SubmitSpec(prompt="slow create"))

    def stall():
        clock.advance(600)
        cli.run_pass()
        assert cli.get_job(job.id).status == "submit_unknown"
        if action == "cancel":
            assert cli.cancel(job.id).status == "cancelled"
        elif action == "delete":
            cli.delete(job.id)
        else:
            assert cli.resubmit(job.id).interaction_id

    worker.gateway = Interleave(worker.gateway, "create", before=stall)
    worker.run_pass()
    late = [r for r in emulator.backend.list_interactions() if r["status"] == "cancelled"]
    assert len(late) == 1 and emulator.backend.stats()["requests"]["cancel"] == 1
    survivor = worker.store.find_job(job.id)
    if action == "cancel":
        assert survivor.status == "cancelled" and survivor.interaction_id is None
    elif action == "delete":
        assert survivor is None
    else:  # the resubmitted run is the one the job follows, and it still runs
        assert survivor.interaction_id != late[0]["id"]
        assert survivor.job_status in (JobStatus.QUEUED, JobStatus.IN_PROGRESS)
    if survivor is not None:  # (a deleted job's interaction has no row, by the user's choice)
        check_invariants(worker.store, emulator.backend.stats(), accepted=[job.id])


@pytest.mark.parametrize("lost", ["500-after-cancelling", "timeout-after-cancelling"])
def test_a_cancel_whose_reply_is_lost_reports_what_the_next_get_shows(
    make_service, make_settings, emulator, clock, lost
):
    """Issue 8: the cancel took effect but its reply was lost; today it is sent a second time and
    the CLI says `error: cancel timed out` although the job ended cancelled."""
    worker = make_service(make_settings(), owner="worker-1")
    cli = make_service(make_settings(**{"api.timeout": 0.5}), owner="cli-1")
    emulator.backend.faults.force_outcome("in_progress")
    job = worker.submit_new(SubmitSpec(prompt="long"))
    if lost.startswith("500"):
        emulator.backend.faults.accept_then_fail("cancel", 500, times=1)
    else:
        emulator.backend.faults.accept_then_delay("cancel", seconds=2.0, times=1)
    ended = cli.cancel(job.id)  # no error: the next get says what happened
    assert ended.status == "cancelled" and ended.remote_status == "cancelled"
    for _ in range(3):
        clock.advance(60)
        worker.run_pass()
    assert_cancelled_once(emulator, worker, job.id)


def test_no_second_cancel_while_the_first_ones_fate_is_unknown(two, emulator, clock):
    """The cancel's reply is lost and so is the get after it: the job stays `cancelling`, the
    worker's next poll reads how it ended, and no second cancel is sent meanwhile."""
    worker, cli = two
    emulator.backend.faults.force_outcome("in_progress")
    job = worker.submit_new(SubmitSpec(prompt="long"))
    emulator.backend.faults.accept_then_fail("cancel", 500, times=1)
    emulator.backend.faults.fail("get", 503, times=1)
    pending = cli.cancel(job.id)
    assert not pending.job_status.is_terminal and pending.cancel_sent_at is not None
    run_passes(worker, clock, until=lambda: all_settled(worker.store), step=5, limit=20)
    assert_cancelled_once(emulator, worker, job.id)


def test_a_cancel_the_server_did_not_apply_is_sent_again_once_a_get_says_so(two, emulator, clock):
    """A 500 that really failed: the get right after shows the job still running, so the first
    cancel is known to have had no effect and the worker sends it again."""
    worker, cli = two
    emulator.backend.faults.force_outcome("in_progress")
    job = worker.submit_new(SubmitSpec(prompt="long"))
    emulator.backend.faults.fail("cancel", 500, times=1)
    assert not cli.cancel(job.id).job_status.is_terminal
    run_passes(worker, clock, until=lambda: all_settled(worker.store), step=5, limit=20)
    assert worker.get_job(job.id).status == "cancelled"
    assert emulator.backend.stats()["requests"]["cancel"] == 2
